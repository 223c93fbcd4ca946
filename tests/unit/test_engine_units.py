"""Pure pieces of the engine: config loading, store schema, redaction, policy, doom-loop rules."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core import pricing
from agent_core.config import ConfigError, load_config, substitute_env
from agent_core.context import patch_dangling_tool_calls, undo_last_turn
from agent_core.policy import decide
from agent_core.redact import scrub, scrub_text
from agent_core.session.guards import check_for_doom_loop, normalize_args
from agent_core.store import SCHEMA_VERSION, Store, StoreError
from tests.engine_harness import make_config

# ------------------------------------------------------------------ config


def test_defaults_load_and_env_overrides_model() -> None:
    cfg = load_config(env={"ML_INTERN_MODEL": "openai/gpt-4o-mini"}, load_env_file=False)
    assert cfg.model_name == "openai/gpt-4o-mini"
    assert cfg.max_iterations == 300 and cfg.confirm_cpu_jobs is True
    assert load_config(env={}, load_env_file=False).model_name == "moonshotai/Kimi-K2.6"


def test_user_file_merges_over_defaults_yaml(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "max_iterations: 12\njobs:\n  on_job_finished: resume\ntools:\n  bash_enabled: true\n"
    )
    cfg = load_config(f, env={}, load_env_file=False)
    assert cfg.max_iterations == 12 and cfg.jobs.on_job_finished == "resume"
    assert cfg.tools.bash_enabled and cfg.tools.web_search_provider == "none"


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        ('{"max_iterations": "lots"}', ".json", "max_iterations: Input should be a valid integer"),
        ('{"modle_name": "x"}', ".json", "modle_name: unknown key"),
        (
            '{"jobs": {"on_job_finished": "email"}}',
            ".json",
            "jobs.on_job_finished: Input should be",
        ),
        ('{"tools": {"bash_enabeld": true}}', ".json", "tools.bash_enabeld: unknown key"),
        ("max_iterations: [", ".yaml", "cannot parse"),
        ("[1, 2]", ".json", "must contain a mapping"),
        (
            '{"messaging": {"destinations": {"x": {"token": "${NOPE_TOKEN}"}}}}',
            ".json",
            "messaging.destinations.x.token: environment variable NOPE_TOKEN is not set",
        ),
    ],
)
def test_config_errors_name_the_key(
    tmp_path: Path, content: str, suffix: str, expected: str
) -> None:
    f = tmp_path / f"c{suffix}"
    f.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(f, env={}, load_env_file=False)
    assert expected in str(info.value)


def test_missing_config_file_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(env={"ML_INTERN_CONFIG": "/nonexistent/x.json"}, load_env_file=False)


def test_env_substitution_defaults() -> None:
    out = substitute_env({"a": "${X:-dflt}", "b": ["${Y}"]}, env={"Y": "yes"})
    assert out == {"a": "dflt", "b": ["yes"]}


def test_cli_check_reports_bad_config_and_exits_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"max_iterations": -5}')
    script = Path(sys.executable).parent / "ml-intern-slack"  # the installed console script
    proc = subprocess.run(
        [str(script), "check"],
        env={"ML_INTERN_CONFIG": str(bad), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "max_iterations" in proc.stderr and "greater than or equal to -1" in proc.stderr


# ------------------------------------------------------------------ store


async def test_store_creates_directory_uses_wal_and_versions_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "state.db"
    store = await Store.open(path)
    try:
        row = await store.fetchone("PRAGMA journal_mode")
        assert row[0] == "wal"
        row = await store.fetchone("PRAGMA user_version")
        assert row[0] == SCHEMA_VERSION
        e1 = await store.append_event("s", "x", {"a": 1})
        e2 = await store.append_event("s", "y", {})
        other = await store.append_event("t", "x", {})
        assert (e1.seq, e2.seq, other.seq) == (1, 2, 1)
        assert [e.type for e in await store.events_after("s", 1)] == ["y"]
    finally:
        await store.close()
    reopened = await Store.open(path)  # migrations are idempotent
    assert await reopened.last_seq("s") == 2
    await reopened.close()


async def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    con.close()
    with pytest.raises(StoreError, match="newer than this build"):
        await Store.open(path)


async def test_store_default_path_comes_from_ml_intern_db(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ML_INTERN_DB", str(tmp_path / "x" / "y.db"))
    store = await Store.open()
    assert store.path == str(tmp_path / "x" / "y.db")
    await store.close()
    monkeypatch.delenv("ML_INTERN_DB")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    store = await Store.open()
    assert store.path.startswith(str(tmp_path / "xdg" / "ml-intern-slack"))
    await store.close()


# ------------------------------------------------------------------ redaction


@pytest.mark.parametrize(
    "secret",
    [
        "hf_" + "a" * 34,
        "xoxb-123456789012-1234567890123-abcdefghijklmnop",
        "xapp-1-A111-222-abcdef0123456789",
        "sk-ant-api03-" + "b" * 40,
        "sk-proj-" + "c" * 48,
        "ghp_" + "d" * 36,
        "github_pat_" + "e" * 50,
        "AKIAABCDEFGHIJKLMNOP",
    ],
)
def test_known_secret_shapes_are_scrubbed(secret: str) -> None:
    out = scrub_text(f"before {secret} after")
    assert secret not in out and "before" in out and "after" in out


def test_env_assignments_and_bearer_headers_are_scrubbed() -> None:
    text = (
        "MY_API_KEY=abc123secret password: hunter22 Authorization: Bearer abcdefghijklmnopqrstuvwx"
    )
    out = scrub_text(text)
    assert (
        "abc123secret" not in out
        and "hunter22" not in out
        and "abcdefghijklmnopqrstuvwx" not in out
    )


def test_literal_env_secret_values_are_scrubbed(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "custom-key-without-known-shape")
    assert "custom-key" not in scrub_text("key is custom-key-without-known-shape")


def test_scrub_is_recursive_and_keeps_non_strings() -> None:
    data = {"a": ["hf_" + "z" * 32, 3, None], "b": {"c": ("ghp_" + "y" * 36,)}, "n": 1.5}
    out = scrub(data)
    assert out["a"][1:] == [3, None] and out["n"] == 1.5
    assert "hf_" not in json.dumps(out) and "ghp_" not in str(out["b"])


# ------------------------------------------------------------------ policy & pricing


def test_approval_table() -> None:
    cfg = make_config()
    st: dict = {}
    assert decide("hf_jobs", {"operation": "ps"}, cfg, st, "1") is None
    assert decide("hf_jobs", {"operation": "logs", "job_id": "j"}, cfg, st, "1") is None
    gpu = decide("hf_jobs", {"operation": "run", "hardware_flavor": "h200"}, cfg, st, "1")
    assert gpu.required and gpu.approval_class == "gpu_job" and gpu.estimated_cost_usd == 5.0
    cpu = decide("hf_jobs", {"operation": " RUN ", "flavor": "cpu-basic"}, cfg, st, "1")
    assert cpu.required and cpu.approval_class == "cpu_job"
    unknown = decide("hf_jobs", {"operation": "run", "hardware_flavor": "quantum-xl"}, cfg, st, "1")
    assert unknown.required and unknown.estimated_cost_usd is None
    sched = decide("hf_jobs", {"operation": "scheduled run", "schedule": "@daily"}, cfg, st, "1")
    assert sched.approval_class == "scheduled_job"
    assert decide("hf_repo_files", {"operation": "read"}, cfg, st, "1") is None
    assert decide("hf_repo_files", {"operation": "delete"}, cfg, st, "1").destructive
    assert decide("hf_repo_git", {"operation": "create_pr"}, cfg, st, "1") is None
    assert (
        decide("hf_repo_git", {"operation": "merge_pr"}, cfg, st, "1").approval_class
        == "repo_destructive"
    )
    assert decide("plan_tool", {}, cfg, st, "1") is None


def test_yolo_scheduled_jobs_always_ask_and_unknown_cost_asks() -> None:
    cfg = make_config(yolo_mode=True)
    st: dict = {}
    sched = decide("hf_jobs", {"operation": "scheduled run"}, cfg, st, "1")
    assert sched.required and sched.blocked_reason
    unk = decide("hf_jobs", {"operation": "run", "hardware_flavor": "mystery"}, cfg, st, "2")
    assert unk.required and "cannot be estimated" in unk.blocked_reason
    upload = decide("hf_repo_files", {"operation": "upload"}, cfg, st, "3")
    assert not upload.required and upload.auto_approved


def test_batch_reservation_blocks_the_second_job() -> None:
    cfg = make_config(yolo_mode=True, yolo_cost_cap_usd=5.0)
    st: dict = {}
    job = {"operation": "run", "hardware_flavor": "a10g-large", "timeout": "1.5h"}  # $3
    first = decide("hf_jobs", job, cfg, st, "a")
    second = decide("hf_jobs", job, cfg, st, "b")
    assert first.auto_approved and second.required


@pytest.mark.parametrize(
    ("timeout", "hours"),
    [
        (None, 0.5),
        ("30m", 0.5),
        ("3h", 3.0),
        (3600, 1.0),
        ("90", 0.025),
        ("1d", 24.0),
        ("soon", None),
        (-5, None),
    ],
)
def test_timeout_parsing(timeout, hours) -> None:
    assert pricing.parse_timeout_hours(timeout) == (pytest.approx(hours) if hours else None)


def test_live_prices_override_the_static_table() -> None:
    pricing.update_prices({"made-up-gpu": 7.0})
    assert pricing.estimate_job_cost("made-up-gpu", "2h") == 14.0


# ------------------------------------------------------------------ history helpers & guards


def _call(i: str, name: str, args: str = "{}") -> dict:
    return {"id": i, "type": "function", "function": {"name": name, "arguments": args}}


def test_normalize_args_ignores_key_order_and_whitespace() -> None:
    assert normalize_args('{"b": 1, "a": [1, 2]}') == normalize_args('{"a":[1,2],"b":1}')
    assert normalize_args('{"a": [2, 1]}') != normalize_args('{"a": [1, 2]}')
    assert normalize_args("not json") == "not json" and normalize_args("") == ""


def test_doom_loop_needs_three_identical_calls_and_results() -> None:
    msgs: list[dict] = []
    for i in range(2):
        msgs += [
            {"role": "assistant", "tool_calls": [_call(str(i), "t", '{"x":1}')]},
            {"role": "tool", "tool_call_id": str(i), "content": "same"},
        ]
    assert check_for_doom_loop(msgs) is None
    msgs += [
        {"role": "assistant", "tool_calls": [_call("2", "t", '{ "x" : 1 }')]},
        {"role": "tool", "tool_call_id": "2", "content": "same"},
    ]
    assert check_for_doom_loop(msgs) is not None


def test_patch_dangling_and_undo() -> None:
    hist = [
        {"role": "user", "content": "task"},
        {"role": "assistant", "tool_calls": [_call("a", "x"), _call("b", "y")]},
        {"role": "tool", "tool_call_id": "b", "content": "ok"},
        {"role": "user", "content": "[SYSTEM: guard]", "_synthetic": True},
    ]
    assert patch_dangling_tool_calls(hist)
    assert [m.get("tool_call_id") for m in hist[2:4]] == ["b", "a"]
    assert not patch_dangling_tool_calls(hist)
    removed = undo_last_turn(hist)
    assert removed == len(hist) + removed and hist == []  # the synthetic message is not a turn
