"""The files that make a sandbox: the server, its file operations, and (for a Space) a Dockerfile.

Shipped from this package — never a third-party template — so the code that runs the agent's
commands is the code in this repository, at this version.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "ml_intern_sandbox"
SPACE_PORT = 7860
_HERE = Path(__file__).parent

DOCKERFILE = f"""\
FROM python:3.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends git curl build-essential \\
    && rm -rf /var/lib/apt/lists/*
RUN useradd -m -u 1000 user && mkdir -p /app && chown user /app
USER user
ENV PATH=/home/user/.local/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /home/user/server
COPY --chown=user {PACKAGE} {PACKAGE}
EXPOSE {SPACE_PORT}
CMD ["python", "-m", "{PACKAGE}.server", "--port", "{SPACE_PORT}", "--root", "/app"]
"""

README = f"""\
---
title: ml-intern sandbox
sdk: docker
app_port: {SPACE_PORT}
pinned: false
tags:
- ml-intern-sandbox
---
A private sandbox for one ml-intern agent session. It is deleted when the session ends.
"""


def server_package() -> dict[str, bytes]:
    """``{relative path: content}`` of the importable server package."""
    return {
        f"{PACKAGE}/__init__.py": b'"""ml-intern sandbox server."""\n',
        f"{PACKAGE}/server.py": (_HERE / "server.py").read_bytes(),
        f"{PACKAGE}/fileops.py": (_HERE / "fileops.py").read_bytes(),
        f"{PACKAGE}/text_edit.py": (_HERE / "text_edit.py").read_bytes(),
    }


def space_files() -> dict[str, bytes]:
    """Everything a Docker Space needs to run the server."""
    return {
        "Dockerfile": DOCKERFILE.encode(),
        "README.md": README.encode(),
        **server_package(),
    }


def write_package(directory: Path) -> Path:
    """Materialise the server package under ``directory`` (for the local backend)."""
    for rel, data in server_package().items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return directory
