"""The Dockerfile, compose.yaml and .env.example refer to things that exist.

There is no Docker in CI, so nothing would notice if a renamed module, a dropped CLI
subcommand, a health path or an environment variable left these files pointing at nothing.
These tests parse them and check every reference against the code.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main as cli_main
from bot.ops import probe
from bot.ops.settings import HEALTH_PATH, READY_PATH

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = ("agent_core", "bot", "gateways", "configs")
# Read by litellm for the provider it calls (README: "litellm's own provider settings").
LITELLM_VARIABLES = {"OPENAI_API_KEY", "OPENAI_API_BASE", "ANTHROPIC_API_KEY", "HF_TOKEN"}


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [rest for instruction, rest in dockerfile() if instruction == name]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def read_by_product(name: str) -> bool:
    """Does product code read this environment variable (``"NAME"`` in code, ``${NAME`` in a
    shipped config)?"""
    pattern = re.compile(rf"[\"']{name}[\"']|\$\{{{name}\b")
    for folder in PRODUCT_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".json", ".yaml"} and pattern.search(path.read_text()):
                return True
    return False


def dockerignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) or path.split("/")[0] == p for p in patterns)


def test_image_base_sandbox_and_user() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]
    assert any("apt-get install" in r and "bubblewrap" in r for r in instructions("RUN"))
    assert any("pip install ." in r for r in instructions("RUN"))
    users = instructions("USER")
    assert users and users[-1] not in {"root", "0"}


def test_every_copied_path_exists_and_reaches_the_build_context() -> None:
    copies = instructions("COPY")
    assert copies
    for rest in copies:
        *sources, _destination = shlex.split(rest)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    # What `pip install .` packages must be copied.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {s for rest in copies for s in shlex.split(rest)[:-1]}
    assert packages <= copied
    assert project["project"]["readme"] in copied


def test_entrypoint_is_the_console_script_serve_subcommand(capsys) -> None:
    (entrypoint,) = instructions("ENTRYPOINT")
    command = json.loads(entrypoint)
    assert command == ["ml-intern-slack", "serve"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert command[0] in project["project"]["scripts"]
    with pytest.raises(SystemExit) as exit_:
        cli_main([command[1], "--help"])
    assert exit_.value.code == 0
    assert "--http" in capsys.readouterr().out


def test_healthcheck_runs_the_probe_on_the_health_path() -> None:
    (healthcheck,) = instructions("HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:3] == ["python", "-m", probe.__name__]
    assert probe.PATHS[command[3]] == HEALTH_PATH == "/healthz"


def test_image_environment_is_read_by_the_bot_and_ports_are_exposed() -> None:
    env: dict[str, str] = {}
    for rest in instructions("ENV"):
        env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    for name in env:
        if name.startswith(("PIP_", "PYTHON")):
            continue  # pip's and Python's own
        assert read_by_product(name), f"the image sets {name}, which the bot never reads"
    exposed = {p for rest in instructions("EXPOSE") for p in rest.split()}
    assert {env["PORT"], env["ML_INTERN_OPS_PORT"]} == exposed


def test_compose_runs_postgres_and_two_healthy_replicas() -> None:
    services = compose()["services"]
    postgres, bot = services["postgres"], services["bot"]
    assert bot["deploy"]["replicas"] == 2
    assert bot["build"] == "." and (ROOT / "Dockerfile").exists()
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    test = bot["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", probe.__name__]
    assert probe.PATHS[test[4]] == READY_PATH


def test_compose_points_the_store_at_the_postgres_service() -> None:
    services = compose()["services"]
    url = services["bot"]["environment"]["ML_INTERN_DB"]
    match = re.fullmatch(r"postgresql://(\w+):\$\{(\w+)\}@(\w+):5432/(\w+)", url)
    assert match, url
    user, password_var, host, database = match.groups()
    pg_env = services["postgres"]["environment"]
    assert host == "postgres"
    assert user == pg_env["POSTGRES_USER"] and database == pg_env["POSTGRES_DB"]
    assert f"${{{password_var}" in pg_env["POSTGRES_PASSWORD"]
    for name in services["bot"]["environment"]:
        assert read_by_product(name), f"compose sets {name}, which the bot never reads"


def test_secrets_come_from_an_env_file_that_is_never_committed() -> None:
    bot = compose()["services"]["bot"]
    assert bot["env_file"] == ".env"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=ROOT, capture_output=True
    ).returncode
    assert ignored == 0, ".env must be in .gitignore"
    assert dockerignored(".env")
    example = (ROOT / ".env.example").read_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.M)
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"} <= set(names)
    compose_text = (ROOT / "compose.yaml").read_text()
    for name in names:
        known = read_by_product(name) or name in LITELLM_VARIABLES or f"${{{name}" in compose_text
        assert known, f".env.example lists {name}, which nothing reads"
