"""``/healthz``, ``/readyz`` and ``/metrics`` on the wire, against the running runtime.

Readiness must follow reality: a store whose database went away (Postgres stopped, the
SQLite file deleted or moved) makes the replica unready — 503 naming the failed check —
and ready again once the database is back; liveness stays up meanwhile (restarting the
process would not bring the database back).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from bot.ops import probe
from bot.ops.settings import OpsSettings
from tests.postgres_harness import REQUIRED_ENV, NoServer, PostgresCluster, start_cluster
from tests.slack_harness import bot_env

LOOPBACK_OPS = OpsSettings(host="127.0.0.1", port=0)


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return r.status, await r.json()


async def readiness_becomes(url: str, status: int, timeout: float = 30.0) -> dict[str, Any]:
    """Poll ``/readyz`` until it answers ``status`` (a condition with a deadline)."""
    async with asyncio.timeout(timeout):
        while True:
            got, body = await get_json(url)
            if got == status:
                return body
            await asyncio.sleep(0.05)


def ops_url(env: Any) -> str:
    return f"http://127.0.0.1:{env.runtime.ops_server.port}"


async def test_socket_mode_serves_ops_on_ops_port_with_metrics_after_a_turn(tmp_path) -> None:
    async with bot_env(tmp_path, ops=LOOPBACK_OPS, default_reply="Measured.") as env:
        base = ops_url(env)
        assert await get_json(f"{base}/healthz") == (200, {"alive": True})
        status, body = await get_json(f"{base}/readyz")
        assert status == 200 and body["checks"] == {"store": "ok", "slack": "ok", "engine": "ok"}
        ts, ack = await env.slack.mention("measure this")
        await env.slack.redeliver(ack)  # a reconnect redelivery: counted as a retry, run once
        await env.wait_answer("C1", ts, "Measured.")
        await env.settle()
        async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as r:
            page = await r.text()
        assert "ml_intern_turns_started_total 1.0" in page
        assert 'ml_intern_turns_finished_total{outcome="completed"} 1.0' in page
        for retry in ("no", "yes"):
            line = (
                f'ml_intern_slack_requests_total{{retry="{retry}",transport="socket_mode",'
                'type="event:app_mention"} 1.0'
            )
            assert line in page, line
        assert 'ml_intern_slack_api_seconds_count{method="auth.test"} 1.0' in page
        assert 'ml_intern_llm_tokens_total{kind="prompt",model="openai/fake"}' in page


async def test_slack_api_errors_are_counted_by_method_and_code(tmp_path) -> None:
    async with bot_env(tmp_path, ops=LOOPBACK_OPS, default_reply="Despite it all.") as env:
        env.slack.fail_next("reactions.add", error="too_many_reactions")
        ts, _ = await env.slack.mention("react to this")
        await env.wait_answer("C1", ts, "Despite it all.")
        await env.settle()
        async with aiohttp.ClientSession() as http, http.get(f"{ops_url(env)}/metrics") as r:
            page = await r.text()
        assert (
            'ml_intern_slack_api_errors_total{error="too_many_reactions",method="reactions.add"} 1.0'
            in page
        )


async def test_readiness_reports_shutting_down(tmp_path) -> None:
    async with bot_env(tmp_path, ops=LOOPBACK_OPS) as env:
        env.runtime.stopping = True  # what stop() sets first, before closing anything
        status, body = await get_json(f"{ops_url(env)}/readyz")
        assert status == 503
        assert body == {
            "ready": False,
            "checks": {"store": "ok", "slack": "ok", "engine": "shutting down"},
        }


async def test_no_ops_server_without_ops_port(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        assert env.runtime.ops_server is None


async def test_readiness_fails_while_the_sqlite_file_is_gone_and_recovers(tmp_path) -> None:
    async with bot_env(tmp_path, http=True) as env:
        ready = f"{env.http_url}/readyz"
        moved = tmp_path / "moved.db"
        os.rename(env.db, moved)  # an unmounted volume, an over-eager cleanup job
        try:
            status, body = await get_json(ready)
            assert status == 503
            assert body["checks"]["store"].startswith("the SQLite file is no longer at its path")
            assert body["checks"]["slack"] == "ok"
            assert await get_json(f"{env.http_url}/healthz") == (200, {"alive": True})
        finally:
            os.rename(moved, env.db)
        status, body = await get_json(ready)
        assert (status, body["ready"]) == (200, True)


@pytest.fixture
def private_postgres() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since the test stops it (the shared one serves others)."""
    try:
        cluster = start_cluster()
    except NoServer as exc:
        if os.environ.get(REQUIRED_ENV) == "required":
            pytest.fail(f"no Postgres server: {exc}")
        pytest.skip(f"no Postgres server could be started here: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


def pg_ctl(cluster: PostgresCluster, *args: str) -> None:
    data = str(cluster.root / "data")
    subprocess.run(
        [*cluster.run_as, str(cluster.bindir / "pg_ctl"), "-D", data, *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
async def postgres_url(private_postgres: PostgresCluster) -> AsyncIterator[str]:
    yield await private_postgres.create_database()


async def test_readiness_follows_postgres_going_down_and_coming_back(
    tmp_path, private_postgres: PostgresCluster, postgres_url: str
) -> None:
    async with bot_env(tmp_path, ops=LOOPBACK_OPS, start=False) as env:
        env.db = postgres_url  # type: ignore[assignment]
        await env.start_bot()
        ready = f"{ops_url(env)}/readyz"
        assert (await get_json(ready))[0] == 200
        pg_ctl(private_postgres, "-m", "fast", "-w", "stop")
        body = await readiness_becomes(ready, 503)
        assert body["checks"]["store"].startswith("the store did not answer")
        assert "postgres@" not in str(body)  # no connection string in the answer
        assert await get_json(f"{ops_url(env)}/healthz") == (200, {"alive": True})
        options = f"-p {private_postgres.port} -h 127.0.0.1 -k {private_postgres.root} -c fsync=off"
        log = str(private_postgres.root / "server.log")
        pg_ctl(private_postgres, "-l", log, "-o", options, "-w", "-t", "60", "start")
        body = await readiness_becomes(ready, 200)
        assert body["checks"]["store"] == "ok"


async def test_the_container_healthcheck_probe_asks_the_running_bot(tmp_path, monkeypatch) -> None:
    async with bot_env(tmp_path, ops=LOOPBACK_OPS) as env:
        monkeypatch.setenv("ML_INTERN_OPS_PORT", str(env.runtime.ops_server.port))
        assert await asyncio.to_thread(probe.main, ["healthz"]) == 0
        assert await asyncio.to_thread(probe.main, ["readyz"]) == 0
        env.runtime.stopping = True
        assert await asyncio.to_thread(probe.main, ["readyz"]) == 1
        assert await asyncio.to_thread(probe.main, ["healthz"]) == 0
    assert await asyncio.to_thread(probe.main, ["healthz"]) == 1  # nothing listens any more


async def test_readiness_follows_the_socket_mode_connection(tmp_path) -> None:
    async with bot_env(tmp_path, ops=LOOPBACK_OPS) as env:
        ready = f"{ops_url(env)}/readyz"
        assert (await get_json(ready))[0] == 200
        # Slack drops the sockets and refuses new ones for a while (an outage on its side).
        outage = env.slack.fail_next("apps.connections.open", status=503, count=1_000_000)
        await env.slack.drop_connections()
        body = await readiness_becomes(ready, 503)
        assert body["checks"]["slack"].startswith("the Socket Mode connection is down")
        assert body["checks"]["store"] == "ok"
        outage.remaining = 0  # Slack is back
        await env.slack.wait_connected(timeout=30)
        assert (await readiness_becomes(ready, 200))["ready"] is True
