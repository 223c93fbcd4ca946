"""Spaces on the fake Hub: runtime stages, secrets, hardware, and a Space edge that runs the app.

What the real Hub does, and this fake enforces (shapes from ``huggingface_hub``'s ``HfApi``:
``create_repo(space_sdk=…, space_hardware=…, space_secrets=…)`` → ``POST /api/repos/create``
with ``sdk``/``hardware``/``secrets``; ``get_space_runtime`` → ``GET /api/spaces/{id}/runtime``
answering ``{stage, hardware: {current, requested}, gcTimeout, …}`` (``SpaceRuntime``);
``add_space_secret`` → ``POST …/secrets {key, value}``; ``request_space_hardware`` →
``POST …/hardware {flavor, sleepTimeSeconds}``):

* a Docker Space with no ``Dockerfile`` never runs (stage ``NO_APP_FILE``); an unknown
  hardware flavor is a 400; only the owner's token reads a private Space's runtime;
* the Space "builds" by materialising its committed files in a temp dir and starting the
  app the way our Dockerfile's ``CMD`` does (``python -m ml_intern_sandbox.server``), with the
  Space's secrets — and nothing else — in its environment; stage goes BUILDING → RUNNING;
* the Space edge (``/spaces-proxy/{owner}/{name}/…``, what ``https://{owner}-{name}.hf.space``
  is on the real Hub) answers 404 to anyone without read access to a private Space, and
  forwards everything else to the app;
* deleting the repo stops the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from .fake_hub_common import HubError, read_json, request_auth

HARDWARE = {
    "cpu-basic",
    "cpu-upgrade",
    "t4-small",
    "t4-medium",
    "l4x1",
    "l4x4",
    "a10g-small",
    "a10g-large",
    "a10g-largex2",
    "a10g-largex4",
    "a100-large",
    "h100",
    "h100x8",
}
APP_MODULE = "ml_intern_sandbox.server"


@dataclass
class SpaceApp:
    repo_id: str
    stage: str = "NO_APP_FILE"
    hardware: str = "cpu-basic"
    sleep_time: int | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    port: int | None = None
    workdir: tempfile.TemporaryDirectory[str] | None = None
    starting: asyncio.Task[None] | None = None


class FakeSpaces:
    def __init__(self, hub: Any, repo_service: Any) -> None:
        self.hub = hub
        self.repo_service = repo_service
        self.apps: dict[str, SpaceApp] = {}

    def register(self, router: Any) -> None:
        base = "/api/spaces/{ns}/{name}"
        router.add("GET", base + "/runtime", self.runtime, "spaces.runtime")
        router.add("POST DELETE", base + "/secrets", self.secrets, "spaces.secrets")
        router.add("POST", base + "/hardware", self.hardware, "spaces.hardware")
        router.add("POST", base + "/sleeptime", self.sleeptime, "spaces.sleeptime")
        router.add("DELETE", "/api/repos/delete", self.delete_repo, "repos.delete")
        router.add(
            "GET POST PUT DELETE", "/spaces-proxy/{ns}/{name}/{tail:.*}", self.proxy, "spaces.edge"
        )

    # ----------------------------------------------------------------- state

    def _repo(self, request: web.Request, ns: str, name: str, *, write: bool) -> Any:
        repo_id = f"{ns}/{name}"
        repo = self.hub.repos.get(repo_id, "space")
        auth = request_auth(request)
        allowed = auth is not None and ns in auth.user.namespaces
        if repo is None or (repo.private and not allowed):
            raise HubError(404, f"Space {repo_id} not found")
        if write and not allowed:
            raise HubError(403, f"You don't have write access to {repo_id}")
        return repo

    def _app(self, repo: Any) -> SpaceApp:
        app = self.apps.get(repo.repo_id)
        if app is None:
            payload = repo.meta.get("creation_payload") or {}
            app = SpaceApp(repo.repo_id)
            app.hardware = payload.get("hardware") or "cpu-basic"
            app.sleep_time = payload.get("sleepTimeSeconds")
            for secret in payload.get("secrets") or []:
                app.secrets[secret["key"]] = secret["value"]
            self.apps[repo.repo_id] = app
        return app

    def _runtime_json(self, app: SpaceApp) -> dict[str, Any]:
        running = app.stage == "RUNNING"
        return {
            "stage": app.stage,
            "hardware": {"current": app.hardware if running else None, "requested": app.hardware},
            "gcTimeout": app.sleep_time,
            "storage": None,
            "replicas": {"current": 1 if running else 0, "requested": 1},
        }

    # ----------------------------------------------------------------- routes

    async def runtime(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._repo(request, p["ns"], p["name"], write=False)
        app = self._app(repo)
        files = repo.head().files if hasattr(repo, "head") else {}
        if app.stage == "NO_APP_FILE" and "Dockerfile" in files:
            app.stage = "BUILDING"
            self._tag_from_readme(repo, files)
            app.starting = asyncio.get_running_loop().create_task(self._start(app, files))
        return web.json_response(self._runtime_json(app))

    async def secrets(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._repo(request, p["ns"], p["name"], write=True)
        body = await read_json(request)
        app = self._app(repo)
        if request.method == "DELETE":
            app.secrets.pop(str(body.get("key")), None)
        else:
            key = body.get("key")
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise HubError(400, f"Invalid secret key: {key!r}")
            app.secrets[key] = str(body.get("value", ""))
        return web.json_response({})

    async def hardware(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._repo(request, p["ns"], p["name"], write=True)
        body = await read_json(request)
        flavor = body.get("flavor")
        if flavor not in HARDWARE:
            raise HubError(400, f"Invalid hardware flavor: {flavor!r}")
        app = self._app(repo)
        app.hardware = flavor
        if "sleepTimeSeconds" in body:
            app.sleep_time = body["sleepTimeSeconds"]
        return web.json_response(self._runtime_json(app))

    async def sleeptime(self, request: web.Request, p: dict[str, str]) -> web.Response:
        repo = self._repo(request, p["ns"], p["name"], write=True)
        app = self._app(repo)
        app.sleep_time = (await read_json(request)).get("seconds")
        return web.json_response(self._runtime_json(app))

    async def delete_repo(self, request: web.Request, p: dict[str, str]) -> web.Response:
        body = await read_json(request)
        auth = request_auth(request)
        if body.get("type") == "space" and auth is not None:
            ns = body.get("organization") or auth.user.name
            app = self.apps.pop(f"{ns}/{body.get('name')}", None)
            if app is not None:
                await self._stop(app)
        return await self.repo_service.delete_repo(request, p)

    async def proxy(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        repo_id = f"{p['ns']}/{p['name']}"
        repo = self.hub.repos.get(repo_id, "space")
        auth = request_auth(request)
        if repo is None or (repo.private and (auth is None or p["ns"] not in auth.user.namespaces)):
            raise HubError(404, "Space not found")
        app = self.apps.get(repo_id)
        if app is None or app.stage != "RUNNING" or app.port is None:
            raise HubError(503, "Space is not running")
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("content-type", "x-sandbox-authorization")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                f"http://127.0.0.1:{app.port}/{p['tail']}",
                data=await request.read(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=1300),
            ) as upstream,
        ):
            return web.Response(
                status=upstream.status,
                body=await upstream.read(),
                content_type=upstream.content_type,
            )

    # ----------------------------------------------------------------- the app

    @staticmethod
    def _tag_from_readme(repo: Any, files: dict[str, Any]) -> None:
        """The Hub derives a repo's tags from its README's front matter."""
        readme = files.get("README.md")
        text = readme.decode() if isinstance(readme, bytes) else str(readme or "")
        m = re.match(r"^---\n(.*?)\n---", text, re.DOTALL)
        if m:
            meta = yaml.safe_load(m.group(1)) or {}
            repo.meta["tags"] = list(meta.get("tags") or [])

    async def _start(self, app: SpaceApp, files: dict[str, Any]) -> None:
        app.workdir = tempfile.TemporaryDirectory(prefix="fake-space-")
        root = Path(app.workdir.name)
        for rel, data in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data if isinstance(data, bytes) else str(data).encode())
        if not (root / "ml_intern_sandbox" / "server.py").exists():
            app.stage = "RUNTIME_ERROR"
            return
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **app.secrets}
        app.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            APP_MODULE,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--root",
            str(root / "app"),
            cwd=str(root),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        assert app.proc.stdout is not None
        line = await app.proc.stdout.readline()
        if not line.startswith(b"LISTENING "):
            app.stage = "RUNTIME_ERROR"
            return
        app.port = int(line.split()[1])
        app.stage = "RUNNING"
        self.hub.notify()

    async def _stop(self, app: SpaceApp) -> None:
        if app.starting is not None and not app.starting.done():
            app.starting.cancel()
        if app.proc is not None and app.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(app.proc.pid, signal.SIGKILL)
            await app.proc.wait()
        if app.workdir is not None:
            app.workdir.cleanup()
        app.stage = "DELETING"

    async def close(self) -> None:
        for app in list(self.apps.values()):
            await self._stop(app)
        self.apps.clear()
