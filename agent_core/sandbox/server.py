"""The sandbox server: ``bash``/``read``/``write``/``edit`` over HTTP on a session's own machine.

Why a server: the agent must be able to ``pip install`` and smoke-test a script before it
spends GPU money, and that must not happen on the bot's host. This file runs *inside* the
sandbox — a private Hugging Face Space (Docker SDK, port 7860) or a local subprocess — and
depends on nothing but the standard library and :mod:`.fileops`, so it is shipped as-is.

Protocol (JSON over HTTP; every route but ``/api/health`` needs
``X-Sandbox-Authorization: Bearer <SANDBOX_API_TOKEN>``, compared in constant time; with no
token configured the server refuses everything — it never runs open):

* ``POST /api/bash {command, work_dir?, timeout?}`` → ``{ok, output, exit_code, error}``;
  own process group, killed (TERM, then KILL) on timeout; output cut to 25,000 characters
  (a quarter head, the rest tail) with the full text spilled to a file whose path is given.
* ``POST /api/kill`` → kills every running command group.
* ``POST /api/read {path, offset?, limit?}``, ``/api/write {path, content}``,
  ``/api/edit {path, old_str, new_str, replace_all?, mode?}``, ``/api/exists {path}``.
  Writes are atomic; a file that exists must be read before it is overwritten or edited.
* ``POST /api/upload {path, content_b64}`` places a file as-is (the bot syncing the session's
  attachments in; no read-before-overwrite rule, since it is not the model's own edit);
  ``POST /api/download {path}`` returns a file's bytes (a sandbox script submitted as a job).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .fileops import (
    ANSI,
    OUTPUT_CAP,
    READ_DEFAULT_LIMIT,
    WRITE_MAX_BYTES,
    OutputCapture,
    atomic_write,
    list_dir,
    numbered,
    python_warnings,
    read_text,
)
from .text_edit import WorkspaceError, apply_edit

TOKEN_ENV = "SANDBOX_API_TOKEN"
ROOT_ENV = "SANDBOX_ROOT"
MAX_BODY = 8 * 1024 * 1024
MAX_TIMEOUT_S = 1200.0
DEFAULT_TIMEOUT_S = 240.0
KILL_GRACE_S = 2.0


class SandboxState:
    """What one sandbox remembers: its root, the files read, the running command groups."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.read_files: set[str] = set()
        self.running: dict[int, subprocess.Popen[bytes]] = {}
        self.lock = threading.Lock()

    def resolve(self, path: Any) -> Path:
        if not isinstance(path, str) or not path.strip():
            raise WorkspaceError("'path' must be a non-empty string")
        p = Path(path)
        return (p if p.is_absolute() else self.root / p).resolve()

    # ----------------------------------------------------------------- commands

    def bash(self, command: Any, work_dir: Any, timeout: Any) -> dict[str, Any]:
        if not isinstance(command, str) or not command.strip():
            raise WorkspaceError("'command' must be a non-empty string")
        cwd = self.resolve(work_dir or str(self.root))
        if not cwd.is_dir():
            raise WorkspaceError(f"work_dir {cwd} is not a directory")
        try:
            limit = float(timeout) if timeout is not None else DEFAULT_TIMEOUT_S
        except (TypeError, ValueError) as exc:
            raise WorkspaceError("timeout must be a number of seconds") from exc
        limit = min(max(limit, 1.0), MAX_TIMEOUT_S)
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        env.setdefault("PYTHONUNBUFFERED", "1")
        proc = subprocess.Popen(  # noqa: S603 - running the agent's command is the point
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with self.lock:
            self.running[proc.pid] = proc
        capture = OutputCapture(OUTPUT_CAP // 2)
        full: list[str] = []

        def pump() -> None:
            assert proc.stdout is not None
            for chunk in iter(lambda: proc.stdout.read1(65536), b""):
                text = chunk.decode("utf-8", errors="replace")
                capture.feed(text)
                full.append(text)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc, graceful=timed_out)
            reader.join(5.0)
            with self.lock:
                self.running.pop(proc.pid, None)
        output = ANSI.sub("", capture.render()).strip()
        spill = None
        if capture.total > len(output) + 64:
            spill = Path("/tmp") / f"bash_output_{uuid.uuid4().hex[:8]}.txt"
            spill.write_text(ANSI.sub("", "".join(full)), encoding="utf-8")
            output += f"\n[full output: {spill}]"
        error = None
        if timed_out:
            error = f"command timed out after {limit:.0f}s and was killed"
        elif proc.returncode != 0:
            error = f"exit code {proc.returncode}"
        return {
            "ok": error is None,
            "output": output or "(no output)",
            "exit_code": proc.returncode,
            "error": error,
        }

    def kill_all(self) -> int:
        with self.lock:
            procs = list(self.running.values())
        for proc in procs:
            _kill_group(proc, graceful=True)
        return len(procs)

    # ----------------------------------------------------------------- files

    def read(self, path: Any, offset: Any, limit: Any) -> dict[str, Any]:
        target = self.resolve(path)
        if not target.exists():
            raise WorkspaceError(f"{target} does not exist")
        if target.is_dir():
            return {"ok": True, "output": f"Directory {target}:\n{list_dir(target)}"}
        text = read_text(target)
        self.read_files.add(str(target))
        body, ok = numbered(
            text, max(1, int(offset or 1)), max(1, int(limit or READ_DEFAULT_LIMIT)), str(target)
        )
        return {"ok": ok, "output": body} if ok else {"ok": False, "error": body[7:]}

    def write(self, path: Any, content: Any) -> dict[str, Any]:
        if not isinstance(content, str):
            raise WorkspaceError("'content' must be a string with the whole file")
        if len(content.encode("utf-8")) > WRITE_MAX_BYTES:
            raise WorkspaceError(f"content exceeds {WRITE_MAX_BYTES} bytes; split it")
        target = self.resolve(path)
        if target.is_dir():
            raise WorkspaceError(f"{target} is a directory")
        if target.exists() and str(target) not in self.read_files:
            raise WorkspaceError(
                f"{target} already exists and has not been read in this session; read it first"
            )
        atomic_write(target, content)
        self.read_files.add(str(target))
        notes = python_warnings(target, content)
        return {
            "ok": True,
            "output": "\n".join([f"Wrote {target} ({len(content)} chars).", *notes]),
        }

    def upload(self, path: Any, content_b64: Any) -> dict[str, Any]:
        """Place a file as-is (the session's attachments and workspace files syncing in).

        Unlike ``write`` it takes bytes and skips the read-before-overwrite rule: it is the
        bot copying the user's files, not the model overwriting its own work.
        """
        try:
            data = base64.b64decode(str(content_b64), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WorkspaceError("content_b64 is not valid base64") from exc
        target = self.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:6]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return {"ok": True, "output": f"Uploaded {target} ({len(data)} bytes)."}

    def download(self, path: Any) -> dict[str, Any]:
        """A file's bytes (a script the agent wrote here, submitted as an HF job)."""
        target = self.resolve(path)
        if not target.is_file():
            raise WorkspaceError(f"{target} is not a file")
        if target.stat().st_size > WRITE_MAX_BYTES:
            raise WorkspaceError(f"{target} is over {WRITE_MAX_BYTES} bytes")
        data = target.read_bytes()
        return {"ok": True, "output": "", "content_b64": base64.b64encode(data).decode()}

    def edit(self, args: dict[str, Any]) -> dict[str, Any]:
        old, new = args.get("old_str"), args.get("new_str")
        if not isinstance(old, str) or not isinstance(new, str):
            raise WorkspaceError("old_str and new_str must be strings")
        target = self.resolve(args.get("path"))
        if not target.is_file():
            raise WorkspaceError(f"{target} does not exist (use write to create it)")
        if str(target) not in self.read_files:
            raise WorkspaceError(f"read {target} before editing it")
        content = read_text(target)
        mode = str(args.get("mode") or "replace")
        updated, count = apply_edit(content, old, new, mode, bool(args.get("replace_all")))
        if len(updated.encode("utf-8")) > WRITE_MAX_BYTES:
            raise WorkspaceError(f"the edited file would exceed {WRITE_MAX_BYTES} bytes")
        atomic_write(target, updated)
        notes = python_warnings(target, updated)
        return {"ok": True, "output": "\n".join([f"Edited {target} ({count} place(s)).", *notes])}


def _kill_group(proc: subprocess.Popen[bytes], *, graceful: bool) -> None:
    """Kill the command's whole process group: nothing it started may outlive it."""
    try:
        if graceful and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait()


def make_handler(state: SandboxState, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "ml-intern-sandbox/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return  # commands and their output never go to a log

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if self.path == "/api/health":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"ok": False, "error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            if not token:
                self._send(503, {"ok": False, "error": f"{TOKEN_ENV} is not configured"})
                return
            given = self.headers.get("X-Sandbox-Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                self._send(401, {"ok": False, "error": "invalid sandbox token"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"ok": False, "error": f"request body over {MAX_BODY} bytes"})
                return
            try:
                args = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(args, dict):
                    raise ValueError("the body must be a JSON object")
            except ValueError as exc:
                self._send(400, {"ok": False, "error": f"bad JSON: {exc}"})
                return
            try:
                self._send(200, self._route(args))
            except WorkspaceError as exc:
                self._send(200, {"ok": False, "error": str(exc)})
            except (OSError, ValueError, TypeError) as exc:
                self._send(200, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})

        def _route(self, a: dict[str, Any]) -> dict[str, Any]:
            match self.path:
                case "/api/bash":
                    return state.bash(a.get("command"), a.get("work_dir"), a.get("timeout"))
                case "/api/kill":
                    return {"ok": True, "output": f"killed {state.kill_all()} command(s)"}
                case "/api/read":
                    return state.read(a.get("path"), a.get("offset"), a.get("limit"))
                case "/api/write":
                    return state.write(a.get("path"), a.get("content"))
                case "/api/edit":
                    return state.edit(a)
                case "/api/download":
                    return state.download(a.get("path"))
                case "/api/upload":
                    return state.upload(a.get("path"), a.get("content_b64"))
                case "/api/exists":
                    return {"ok": True, "exists": state.resolve(a.get("path")).exists()}
            raise WorkspaceError(f"unknown route {self.path}")

    return Handler


def serve(host: str, port: int, root: Path, token: str | None) -> ThreadingHTTPServer:
    root.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((host, port), make_handler(SandboxState(root), token))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ml-intern sandbox server")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a Space serves its port
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--root", default=os.environ.get(ROOT_ENV, "/app"))
    opts = parser.parse_args(argv)
    server = serve(opts.host, opts.port, Path(opts.root), os.environ.get(TOKEN_ENV))
    # The parent of a local sandbox reads this line to learn the port.
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
