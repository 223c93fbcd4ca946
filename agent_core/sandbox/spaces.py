"""The ``hf_space`` sandbox backend: a private Docker Space per session, running our server.

Lifecycle (each step through ``huggingface_hub.HfApi`` in a worker thread):

1. ``create_repo`` a **private** Docker Space ``<owner>/sandbox-<8 hex>`` on the requested
   hardware, with the sandbox secret (and the user's HF token, so the agent can download gated
   models and push) as Space secrets — set at creation, never in a file;
2. one commit with the Dockerfile, README (tagged ``ml-intern-sandbox``) and the server package
   from :mod:`.bundle`;
3. poll ``get_space_runtime`` until RUNNING on that hardware (BUILD_ERROR/RUNTIME_ERROR fail
   with the stage), then the server's health check;
4. ``delete_repo`` when the session ends, and an orphan sweep at startup for Spaces with our
   name pattern and tag that no live session owns.

The Space's URL comes from ``url_template`` (default ``https://{subdomain}.hf.space``), so tests
can point it at the fake Hub's Space proxy on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from .bundle import space_files
from .client import SandboxClient
from .handle import SandboxError, SandboxHandle

DEFAULT_URL_TEMPLATE = "https://{subdomain}.hf.space"
NAME_PATTERN = re.compile(r"^sandbox-[0-9a-f]{8}$")
TAG = "ml-intern-sandbox"
GPU_SLEEP_TIME_S = 2700
_FAILED_STAGES = {"BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "DELETING"}


def space_subdomain(owner: str, name: str) -> str:
    """The ``*.hf.space`` host label of a Space (lowercase; ``_``/``.`` become ``-``)."""
    return re.sub(r"[^a-z0-9-]", "-", f"{owner}-{name}".lower())


class SpaceBackend:
    name = "hf_space"

    def __init__(
        self,
        api: HfApi,
        token: str,
        *,
        owner: str | None = None,
        url_template: str = DEFAULT_URL_TEMPLATE,
        runtime_timeout_s: float = 600.0,
        health_timeout_s: float = 180.0,
        poll_s: float = 5.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.token = token
        self.owner = owner
        self.url_template = url_template
        self.runtime_timeout_s = runtime_timeout_s
        self.health_timeout_s = health_timeout_s
        self.poll_s = poll_s
        self._sleep = sleep

    def auth_token(self) -> str | None:
        return self.token

    async def _owner(self) -> str:
        if self.owner is None:
            who = await asyncio.to_thread(self.api.whoami, token=self.token)
            self.owner = str(who["name"])
        return self.owner

    def url_for(self, owner: str, name: str) -> str:
        return self.url_template.format(
            owner=owner, name=name, subdomain=space_subdomain(owner, name)
        ).rstrip("/")

    async def create(self, session_id: str, hardware: str) -> SandboxHandle:
        owner = await self._owner()
        name = f"sandbox-{secrets.token_hex(4)}"
        repo_id = f"{owner}/{name}"
        sandbox_token = secrets.token_urlsafe(32)
        create_args: dict[str, Any] = {
            "repo_type": "space",
            "space_sdk": "docker",
            "private": True,
            "space_hardware": hardware,
            "space_secrets": [
                {"key": "SANDBOX_API_TOKEN", "value": sandbox_token},
                {"key": "HF_TOKEN", "value": self.token},
            ],
            "token": self.token,
        }
        if hardware != "cpu-basic":
            create_args["space_sleep_time"] = GPU_SLEEP_TIME_S
        try:
            await asyncio.to_thread(self.api.create_repo, repo_id, **create_args)
        except HfHubHTTPError as exc:
            raise SandboxError(f"could not create the sandbox Space: {_reason(exc)}") from exc
        handle = SandboxHandle(
            id=repo_id,
            backend=self.name,
            url=self.url_for(owner, name),
            hardware=hardware,
            token=sandbox_token,
            extra={"session_id": session_id},
        )
        try:
            await asyncio.to_thread(
                self.api.create_commit,
                repo_id,
                repo_type="space",
                operations=[
                    CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)
                    for path, data in space_files().items()
                ],
                commit_message="ml-intern sandbox server",
                token=self.token,
            )
            await self._wait_running(repo_id, hardware)
            await self._wait_healthy(handle)
        except BaseException:
            await self.delete(handle)
            raise
        return handle

    async def _wait_running(self, repo_id: str, hardware: str) -> None:
        deadline = time.monotonic() + self.runtime_timeout_s
        stage = "unknown"
        while time.monotonic() < deadline:
            try:
                runtime = await asyncio.to_thread(
                    self.api.get_space_runtime, repo_id, token=self.token
                )
            except HfHubHTTPError as exc:
                if getattr(exc.response, "status_code", None) != 404:
                    raise SandboxError(f"could not read the Space's state: {_reason(exc)}") from exc
            else:
                stage = str(runtime.stage)
                if stage in _FAILED_STAGES:
                    raise SandboxError(f"the sandbox Space failed to start (stage {stage})")
                if stage == "RUNNING" and (runtime.hardware in (None, hardware)):
                    return
            await self._sleep(self.poll_s)
        raise SandboxError(
            f"the sandbox Space was not running after {self.runtime_timeout_s:.0f}s "
            f"(last stage {stage})"
        )

    async def _wait_healthy(self, handle: SandboxHandle) -> None:
        client = SandboxClient(handle.url, handle.token, self.token)
        try:
            deadline = time.monotonic() + self.health_timeout_s
            while time.monotonic() < deadline:
                if await client.health():
                    return
                await self._sleep(min(self.poll_s, 3.0))
        finally:
            await client.close()
        raise SandboxError("the sandbox Space is running but its server does not answer")

    async def delete(self, handle: SandboxHandle) -> None:
        """Delete the Space; tried three times, because a leaked GPU Space keeps billing."""
        for attempt in range(3):
            try:
                await asyncio.to_thread(
                    self.api.delete_repo,
                    handle.id,
                    repo_type="space",
                    missing_ok=True,
                    token=self.token,
                )
                return
            except HfHubHTTPError as exc:
                if attempt == 2:
                    raise SandboxError(
                        f"could not delete sandbox Space {handle.id}: {_reason(exc)}"
                    ) from exc
                await self._sleep(1.0 + attempt)

    async def sweep_orphans(self, keep: set[str]) -> list[str]:
        """Delete our sandbox Spaces (name pattern + tag) that no live session owns."""
        owner = await self._owner()
        spaces = await asyncio.to_thread(
            lambda: list(self.api.list_spaces(author=owner, search="sandbox-", token=self.token))
        )
        gone: list[str] = []
        for space in spaces:
            name = space.id.split("/", 1)[-1]
            tags = set(getattr(space, "tags", None) or [])
            if not NAME_PATTERN.match(name) or space.id in keep:
                continue
            if TAG not in tags:
                continue  # someone else's Space that merely looks like ours
            handle = SandboxHandle(space.id, self.name, "", "", token="")
            try:
                await self.delete(handle)
            except SandboxError:
                continue
            gone.append(space.id)
        return gone


def _reason(exc: HfHubHTTPError) -> str:
    status = getattr(exc.response, "status_code", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"HTTP {status}: {text}" if status else text
