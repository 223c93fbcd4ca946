"""Shared helpers for the Hub-tool and JobWatcher tests: a fake Hub, a HubClient aimed at it,
a store on disk, a recording ``emit`` that persists like ``SessionManager.emit``, and fast
polling settings.

Timings are shrunk (tens of milliseconds) so jobs run through their stages for real; tests
wait on conditions (recorded events, fake-side state), never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent_core.config import Config, deep_merge, default_config_dict
from agent_core.events import Event
from agent_core.hub import HubClient
from agent_core.jobs import JobWatcher
from agent_core.store import Store
from agent_core.tools.base import Services, ToolContext
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub

SESSION = "sess-jobs"
ORIGIN = {"platform": "test", "requester": "U_REQ", "channel": "C1", "thread_ts": "1.0"}

FAST_JOBS: dict[str, Any] = {
    "poll_initial_s": 0.02,
    "poll_max_s": 0.2,
    "poll_backoff": 1.5,
    "log_tail_every_s": 0.05,
    "log_tail_lines": 20,
    "log_tail_idle_s": 0.05,
    "log_tail_deadline_s": 0.5,
    "stall_warning_s": 60.0,
    "max_concurrent_polls": 8,
}


def make_config(**overrides: Any) -> Config:
    base = default_config_dict()
    base["model_name"] = "openai/fake"
    base = deep_merge(base, {"jobs": dict(FAST_JOBS)})
    return Config.model_validate(deep_merge(base, overrides))


class Recorder:
    """An ``emit`` that persists events in the store (as the manager does) and records them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events: list[Event] = []
        self._cond = asyncio.Condition()

    async def emit(self, session_id: str, type_: str, data: dict[str, Any]) -> Event:
        event = await self.store.append_event(session_id, str(type_), data)
        async with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        return event

    def of(self, type_: str | None = None, job_id: str | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if (type_ is None or e.type == type_)
            and (job_id is None or e.data.get("job_id") == job_id)
        ]

    async def wait_for(
        self,
        type_: str,
        *,
        job_id: str | None = None,
        predicate: Callable[[Event], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> Event:
        def matches() -> list[Event]:
            return [e for e in self.of(type_, job_id) if predicate is None or predicate(e)]

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: len(matches()) >= count), timeout)
            return matches()[count - 1]


@dataclass
class Submitted:
    """Operations the watcher submitted (on_job_finished=resume)."""

    ops: list[tuple[str, Any]] = field(default_factory=list)

    async def __call__(self, session_id: str, op: Any) -> int:
        self.ops.append((session_id, op))
        return len(self.ops)


@dataclass
class JobsEnv:
    fake: FakeHub
    hub: HubClient
    store: Store
    config: Config
    recorder: Recorder
    submitted: Submitted
    watcher: JobWatcher
    path: Path

    def services(self) -> Services:
        return Services(
            store=self.store,
            config=self.config,
            hub=self.hub,
            jobs=self.watcher,
            state_dir=self.path.parent / "state",
        )

    def ctx(
        self,
        tool_call_id: str = "call-1",
        session_id: str = SESSION,
        session_state: dict[str, Any] | None = None,
    ) -> ToolContext:
        emitted: list[tuple[str, dict[str, Any]]] = []

        async def emit(kind: str, payload: dict[str, Any]) -> Any:
            emitted.append((kind, payload))
            return await self.recorder.emit(session_id, kind, payload)

        return ToolContext(
            session_id=session_id,
            tool_call_id=tool_call_id,
            origin=dict(ORIGIN),
            services=self.services(),
            emit=emit,
            cancel_event=asyncio.Event(),
            session_state=session_state if session_state is not None else {},
            register_cleanup=lambda name, hook: None,
            model="openai/fake",
        )

    async def new_watcher(self, **kw: Any) -> JobWatcher:
        """A fresh watcher on the same store (a "restart" of the watcher process)."""
        self.watcher = JobWatcher(
            self.store, self.config, self.hub, self.recorder.emit, self.submitted, **kw
        )
        return self.watcher


def make_hub_client(fake: FakeHub, token: str = ALICE_TOKEN) -> HubClient:
    return HubClient(
        endpoint=fake.url,
        token=token,
        datasets_server_url=fake.datasets_server_url,
        arxiv_html_url=fake.arxiv_html_url,
    )


@asynccontextmanager
async def jobs_env(
    tmp_path: Path,
    *,
    fake_kwargs: dict[str, Any] | None = None,
    config: Config | None = None,
    token: str = ALICE_TOKEN,
    start: bool = True,
) -> AsyncIterator[JobsEnv]:
    async with FakeHub(**(fake_kwargs or {})) as fake:
        hub = make_hub_client(fake, token)
        path = tmp_path / "jobs.db"
        store = await Store.open(path)
        cfg = config or make_config()
        recorder = Recorder(store)
        submitted = Submitted()
        watcher = JobWatcher(store, cfg, hub, recorder.emit, submitted)
        env = JobsEnv(fake, hub, store, cfg, recorder, submitted, watcher, path)
        if start:
            await watcher.start()
        try:
            yield env
        finally:
            await env.watcher.close()
            await store.close()
            await hub.aclose()


@pytest.fixture
def restore_prices():
    """``hf_jobs hardware`` feeds live prices into the process-wide table; undo it per test so
    other tests keep seeing the static prices."""
    from agent_core import pricing

    saved = dict(pricing._live_prices)
    yield
    with pricing._lock:
        pricing._live_prices.clear()
        pricing._live_prices.update(saved)
