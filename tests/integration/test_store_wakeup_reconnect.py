"""Wake-ups survive the loss of the listening connection (real Postgres).

The server ends the connection that LISTENs (as a restart, a proxy or an admin would); the
store notices, connects again and re-subscribes every channel, so later wake-ups arrive.
"""

from __future__ import annotations

import asyncio

from agent_core.store import Store


async def test_wake_ups_arrive_again_after_the_listening_connection_is_killed(
    postgres_url: str,
) -> None:
    listener = await Store.open(postgres_url)
    sender = await Store.open(postgres_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.listen("ml_intern_ops", heard.put_nowait)
        await listener.listen("ml_intern_render", heard.put_nowait)
        await sender.notify("ml_intern_ops", "before")
        assert await asyncio.wait_for(heard.get(), 30) == "before"

        wakeups = listener.backend._wakeups  # type: ignore[attr-defined]
        old = wakeups.connection
        killed = await sender.fetchone("SELECT pg_terminate_backend(?)", (old.get_server_pid(),))
        assert killed[0] is True

        async with asyncio.timeout(30):  # the store notices and listens again
            while wakeups.connection is old or not wakeups.ready.is_set():
                await asyncio.sleep(0.02)
        for channel in ("ml_intern_ops", "ml_intern_render"):
            await sender.notify(channel, f"after on {channel}")
            assert await asyncio.wait_for(heard.get(), 30) == f"after on {channel}"
    finally:
        await listener.close()
        await sender.close()


async def test_closing_the_store_does_not_reconnect(postgres_url: str) -> None:
    store = await Store.open(postgres_url)
    await store.listen("ml_intern_ops", lambda _p: None)
    wakeups = store.backend._wakeups  # type: ignore[attr-defined]
    await store.close()
    assert wakeups.connection.is_closed()
    assert wakeups._reconnecting is None  # its own close is not a loss to repair
