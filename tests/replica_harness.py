"""Several ``ml-intern-slack run`` processes on one Postgres database, as a deployment runs them.

The replicas share one Slack emulator (which spreads Socket Mode envelopes over their
connections, as Slack does), one scripted LLM and one fake Hub, all in the test's own event
loop; each replica is a real process with its own ``ML_INTERN_REPLICA_ID`` and log file.
Readiness is observed, never slept on: a replica is up when the emulator holds a Socket Mode
connection whose peer port belongs to that process (read from ``/proc``), which is also how a
test tells which replica got which envelope and which replica's LLM call is in flight.

Processes are started and reaped with ``bench/procs.py`` (own process group, SIGKILL when the
test process dies, SIGTERM then SIGKILL on the way out); when the block fails, the tail of
every replica's log is printed so the failure explains itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from agent_core.store import Store
from bench.llm_server import parse_directive
from bench.llm_server import respond as bench_respond
from bench.procs import Proc, ProcessPool
from bench.stack import bot_command
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub
from tests.fakes.fake_llm import FakeLLM, Reply, text
from tests.fakes.fake_slack import FakeSlack, Message
from tests.slack_harness import FAST_SLACK

ROOT = Path(__file__).resolve().parents[1]
LLM_KEY = "sk-replica-test-key"
RESTARTED = "restarted while working on this"  # the notice of a turn cut off by a crash

# Polling fast enough that a finished job is seen within a second.
FAST_JOBS: dict[str, Any] = {
    "poll_initial_s": 0.1,
    "poll_max_s": 0.5,
    "on_job_finished": "notify",  # the job's end is reported; the model is not woken
}


def tcp_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets ``pid`` holds (Linux ``/proc``; no psutil needed)."""
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class ReplicaLLM(FakeLLM):
    """The scripted LLM of ``bench/llm_server.py`` (``bench kind=… tok=…`` prompts), plus:

    - ``kind=hold``: the answer waits until :attr:`release` is set (turns held mid-flight);
    - ``tokens``: the directive tokens of the requests received so far.
    """

    def __init__(self) -> None:
        super().__init__(responder=self._respond)
        self.release = asyncio.Event()
        self.tokens: set[str] = set()

    def _respond(self, body: dict[str, Any]) -> Reply:
        parsed = parse_directive(body)
        if parsed is not None and parsed[0] == "hold":
            return text(f"Answer for {parsed[1]}: held, then released.", gate=self.release)
        return bench_respond(body)  # type: ignore[arg-type]

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()  # aiohttp caches it: the parent reads it again
        except ValueError:
            body = {}
        parsed = parse_directive(body) if isinstance(body, dict) else None
        if parsed is not None:
            self.tokens.add(parsed[1])
        return await super()._handle_chat(request)

    async def wait_for_tokens(self, tokens: Iterable[str], timeout: float) -> None:
        """Until every token's turn has sent the LLM at least one request."""
        wanted = list(tokens)
        await self._wait(
            lambda: all(t in self.tokens for t in wanted),
            timeout,
            f"LLM requests of {len(wanted)} turns ({[t for t in wanted if t not in self.tokens]} missing)",
        )


@dataclass
class Replica:
    """One bot process; ``connection`` is its Socket Mode connection's number in the fake."""

    replica_id: str
    proc: Proc
    connection: int | None = None

    @property
    def alive(self) -> bool:
        return self.proc.alive

    def owns_port(self, port: int) -> bool:
        return port in tcp_ports(self.proc.pid)


@dataclass
class ReplicaSet:
    """N replicas on one database against one set of fakes (see the module docstring)."""

    slack: FakeSlack
    llm: ReplicaLLM
    hub: FakeHub
    db_url: str
    workdir: Path
    pool: ProcessPool
    config: dict[str, Any]
    replicas: list[Replica] = field(default_factory=list)

    def env(self, replica_id: str) -> dict[str, str]:
        """What a deployed replica has in its environment, pointed at the fakes."""
        config_path = self.workdir / "config.json"
        config_path.write_text(json.dumps(self.config))
        return {
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_APP_TOKEN": self.slack.app_token,
            "SLACK_API_BASE_URL": self.slack.base_url,
            "ML_INTERN_MODEL": "openai/fake",
            "OPENAI_API_BASE": self.llm.base_url,
            "OPENAI_API_KEY": LLM_KEY,
            "ML_INTERN_DB": self.db_url,
            "ML_INTERN_CONFIG": str(config_path),
            "ML_INTERN_REPLICA_ID": replica_id,
            "ML_INTERN_STATE_DIR": str(self.workdir / replica_id),
            "HF_ENDPOINT": self.hub.url,
            "HF_TOKEN": ALICE_TOKEN,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }

    async def start(self, n: int, timeout: float = 60.0) -> list[Replica]:
        """Spawn ``n`` replicas at once; return when each holds its Socket Mode connection."""
        new = []
        for _ in range(n):
            replica_id = f"replica-{len(self.replicas) + 1}"
            proc = await self.pool.spawn(
                replica_id,
                [*bot_command(), "run"],
                env=self.env(replica_id),
                cwd=self.workdir,
                ready_prefix=None,
            )
            replica = Replica(replica_id, proc)
            self.replicas.append(replica)
            new.append(replica)
        await asyncio.gather(*(self._wait_connected(r, timeout) for r in new))
        return new

    async def _wait_connected(self, replica: Replica, timeout: float) -> None:
        def connected() -> int | None:
            for conn in self.slack.socket.connections:
                if conn.open and conn.peer and replica.owns_port(conn.peer[1]):
                    return conn.number
            return None

        waiter = asyncio.ensure_future(self.slack.wait_for(connected, timeout))
        exited = asyncio.ensure_future(replica.proc.process.wait())
        done, _ = await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if waiter not in done:
            waiter.cancel()
            raise AssertionError(
                f"{replica.replica_id} exited (rc={replica.proc.process.returncode}) before "
                f"connecting:\n{self.log_tail(replica)}"
            )
        replica.connection = waiter.result()

    def by_connection(self, number: int) -> Replica:
        for replica in self.replicas:
            if replica.connection == number:
                return replica
        raise LookupError(f"no replica on connection {number}")

    async def holder_of(self, store: Store, key: str) -> Replica:
        """The replica named in a lease row (``<session id>``: who runs the session's turns;
        ``render:<session id>``: who draws its thread). A released or expired row keeps its
        last owner, so this is also who held it last."""
        row = await store.fetchone("SELECT owner FROM session_leases WHERE session_id=?", (key,))
        assert row is not None, f"no lease row {key}"
        (replica,) = [r for r in self.replicas if r.replica_id == row[0]]
        return replica

    def receiver_of(self, event_id: str) -> Replica:
        """The replica whose connection got (and acked) the event's delivery."""
        acked = [d for d in self.slack.socket.deliveries_of(event_id) if d.acked_at is not None]
        assert len(acked) == 1, f"{event_id}: {len(acked)} acked deliveries"
        return self.by_connection(acked[0].connection)

    async def kill(self, replica: Replica) -> None:
        """``kill -9``: no shutdown path runs, its leases stay until they expire."""
        await replica.proc.kill9()

    async def stop_all(self) -> dict[str, int | None]:
        """SIGTERM every live replica and wait: afterwards nothing can post any more."""
        codes = {}
        for replica in self.replicas:
            if replica.alive:
                codes[replica.replica_id] = await self.pool.stop(replica.proc, timeout=20.0)
        return codes

    def log_tail(self, replica: Replica, lines: int = 40) -> str:
        try:
            text_ = replica.proc.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text_.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(
            f"----- {r.replica_id} (pid {r.proc.pid}, rc {r.proc.process.returncode})\n"
            + self.log_tail(r)
            for r in self.replicas
        )


@asynccontextmanager
async def replica_set(
    db_url: str, workdir: Path, config: dict[str, Any], *, hub_run_secs: float = 3600.0
) -> AsyncIterator[ReplicaSet]:
    """The fakes in this loop plus a process pool; replicas are started with ``start(n)``."""
    workdir.mkdir(parents=True, exist_ok=True)
    async with (
        FakeSlack() as slack,
        ReplicaLLM() as llm,
        FakeHub(run_secs=hub_run_secs) as hub,
        ProcessPool(workdir / "logs") as pool,
    ):
        cluster = ReplicaSet(slack, llm, hub, db_url, workdir, pool, config)
        try:
            yield cluster
        except BaseException:
            print(cluster.logs(), file=sys.stderr)
            for replica in cluster.replicas:  # a failed run needs no graceful shutdown
                await replica.proc.kill9()
            raise


def replica_config(lease_ttl_s: float, **overrides: Any) -> dict[str, Any]:
    """The config file the replicas share: fast Slack pacing and job polling, short leases."""
    config: dict[str, Any] = {
        "slack": dict(FAST_SLACK),
        "jobs": dict(FAST_JOBS),
        "replicas": {"lease_ttl_s": lease_ttl_s, "renew_every_s": lease_ttl_s / 4},
    }
    config.update(overrides)
    return config


# ------------------------------------------------------------------------ people and audits

_ids = itertools.count(1)


@dataclass
class Turn:
    """One mention: its prompt's token, where its thread is, and who asked."""

    kind: str
    tok: str
    channel: str
    ts: str  # the thread's root
    event_id: str
    user: str


async def mention(
    rs: ReplicaSet,
    kind: str,
    *,
    channel: str | None = None,
    thread_ts: str | None = None,
    connection: int | None = None,
) -> Turn:
    """Someone mentions the bot with a ``bench kind=… tok=…`` prompt (a new channel and a new
    person each time: one person may only have a few sessions working at once).
    ``connection`` delivers it to that replica; by default Slack's spread decides."""
    tok = "tk" + secrets.token_hex(5)
    n = next(_ids)
    user = f"U{n:08d}"
    channel = channel or f"C{n:08d}"
    ts, ack = await rs.slack.mention(
        f"bench kind={kind} tok={tok}", channel, user, thread_ts=thread_ts, connection=connection
    )
    assert ack.envelope is not None
    return Turn(kind, tok, channel, thread_ts or ts, ack.envelope["payload"]["event_id"], user)


async def session_of(store: Store, tok: str) -> str:
    """The session whose operation carries ``tok`` (its first one)."""
    row = await store.fetchone(
        "SELECT session_id FROM ops WHERE data LIKE ? ORDER BY id", (f"%{tok}%",)
    )
    assert row is not None, f"no operation carries {tok}"
    return str(row[0])


async def ops_of(store: Store, tok: str) -> list[str]:
    """Statuses of the durable operations whose input carries ``tok``."""
    rows = await store.fetchall("SELECT status FROM ops WHERE data LIKE ?", (f"%{tok}%",))
    return [r[0] for r in rows]


def answers(rs: ReplicaSet, turn: Turn, needle: str) -> int:
    """Bot replies in the turn's thread that contain ``needle``."""
    return count_containing(bot_replies(rs.slack, turn.channel, turn.ts), needle)


def posts_of_part(rs: ReplicaSet, turn: Turn, part: str) -> int:
    """Posts in the thread that the render ledger knows as ``part`` (e.g. ``job_done:<id>``)."""
    return sum(
        1
        for m in bot_replies(rs.slack, turn.channel, turn.ts)
        if (key := ledger_key(m)) is not None and key[2] == part
    )


def bot_replies(slack: FakeSlack, channel: str, root_ts: str) -> list[Message]:
    return [m for m in slack.thread_messages(channel, root_ts, include_root=False) if m.is_bot]


def count_containing(messages: Iterable[Message], needle: str) -> int:
    return sum(1 for m in messages if needle in m.text or needle in json.dumps(m.blocks or []))


def ledger_key(message: Message) -> tuple[str, str, str] | None:
    """The render ledger's identity of a post (session, event seq, part), from its metadata."""
    payload = (message.metadata or {}).get("event_payload") or {}
    if not payload:
        return None
    return str(payload.get("session")), str(payload.get("seq")), str(payload.get("part"))


def duplicate_posts(slack: FakeSlack, channels: Iterable[str]) -> dict[Any, int]:
    """Ledger identities posted more than once across ``channels`` (must be empty)."""
    keys = Counter(
        key
        for ch in channels
        for m in slack.messages(ch)
        if m.is_bot and (key := ledger_key(m)) is not None
    )
    return {k: c for k, c in keys.items() if c > 1}


async def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Re-check an awaitable condition (state in the shared database, which sends no change
    signal to the test) every 50 ms until it holds; fail with ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)  # a poll interval, not a wait for something to happen


async def wait_until(
    slack: FakeSlack,
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    missing: Callable[[], Any] | None = None,
) -> Any:
    """``slack.wait_for`` with a message that says what did not happen (and ``missing()``)."""
    try:
        return await slack.wait_for(predicate, timeout)
    except TimeoutError:
        detail = f": {missing()}" if missing is not None else ""
        raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}") from None
