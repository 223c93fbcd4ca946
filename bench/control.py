"""Async clients for the fakes' control APIs (the Slack emulator's ``/_control`` and the bench
LLM server's ``/_bench``).

The driver never imports the fakes' classes to inspect them: they run in their own processes
(so their CPU is not the driver's), and everything the benchmarks need — pushing mentions,
reading acks, calls and messages, waiting for an answer — goes over loopback HTTP.
Times in responses are ``time.monotonic()`` of the fake's process; on Linux that is the
host-wide ``CLOCK_MONOTONIC``, directly comparable with the driver's own readings.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp


class ControlError(RuntimeError):
    """A control call failed (timeout waiting for the bot, bad request, fake gone)."""


class _Client:
    def __init__(self, origin: str, prefix: str) -> None:
        self.origin = origin.rstrip("/")
        self.prefix = prefix
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> _Client:
        # limit=0: the 200-mention burst must really be 200 requests in flight at once.
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the client as 'async with'")
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        url = f"{self.origin}{self.prefix}/{path}"
        try:
            async with self.session.request(
                method,
                url,
                json=body,
                params=params,
                timeout=aiohttp.ClientTimeout(total=timeout + 5.0),
            ) as resp:
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ControlError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(data, dict) or not data.get("ok", False):
            raise ControlError(f"{method} {path}: {data}")
        return data


class SlackControl(_Client):
    """The Slack emulator's control API (see ``tests/fakes/fake_slack.py`` docstring)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url.rstrip("/").removesuffix("/api"), "/_control")

    async def mention(
        self,
        text: str,
        channel: str,
        *,
        user: str = "U1",
        ack_timeout: float = 30.0,
        connection: int | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """Post a mention (in ``thread_ts``'s thread if given); returns
        ``{ts, ack: {latency_s, sent_at, acked_at, …}}``. ``connection`` delivers it on that
        Socket Mode connection (default: Slack's spread)."""
        body = {"text": text, "channel": channel, "user": user, "ack_timeout": ack_timeout}
        if connection is not None:
            body["connection"] = connection
        if thread_ts:
            body["thread_ts"] = thread_ts
        return await self._request("POST", "mention", body, timeout=ack_timeout)

    async def click(
        self,
        channel: str,
        message_ts: str,
        action_id: str,
        *,
        user: str = "U1",
        ack_timeout: float = 30.0,
    ) -> dict[str, Any]:
        body = {
            "channel": channel,
            "message_ts": message_ts,
            "action_id": action_id,
            "user": user,
            "ack_timeout": ack_timeout,
        }
        return await self._request("POST", "click", body, timeout=ack_timeout)

    async def wait_message(
        self,
        channel: str,
        *,
        thread_ts: str | None = None,
        contains: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """The first bot message (reply) containing ``contains``, with created/changed times."""
        body = {"channel": channel, "thread_ts": thread_ts, "contains": contains}
        body["timeout"] = timeout
        return (await self._request("POST", "wait_message", body, timeout=timeout))["message"]

    async def find_messages(self, queries: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Per query ``{channel, thread_ts, contains}``: ``{ts, at, count}`` or None."""
        return (await self._request("POST", "find_messages", {"queries": queries}))["found"]

    async def wait_connected(self, min_opened: int = 1, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for Socket Mode connection number ``min_opened``; ``{connected_at, …}``."""
        body = {"min_opened": min_opened, "timeout": timeout}
        return await self._request("POST", "wait_connected", body, timeout=timeout)

    async def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        params = {"channel": channel, **({"thread_ts": thread_ts} if thread_ts else {})}
        return (await self._request("GET", "messages", params=params))["messages"]

    async def calls(self, method: str | None = None, since: int = 0) -> tuple[list[dict], int]:
        """Recorded Web API calls from index ``since``; also the total count so far."""
        params = {"since": str(since), **({"method": method} if method else {})}
        data = await self._request("GET", "calls", params=params)
        return data["calls"], data["total"]

    async def acks(self) -> list[dict[str, Any]]:
        return (await self._request("GET", "acks"))["acks"]

    async def deliveries(self) -> list[dict[str, Any]]:
        """Which Socket Mode connection got each envelope (``{connection, type, acked_at, …}``)."""
        return (await self._request("GET", "deliveries"))["deliveries"]

    async def stats(self) -> dict[str, Any]:
        return await self._request("GET", "stats")

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", "health")

    async def reset_counters(self) -> None:
        await self._request("POST", "reset_counters", {})

    async def rate_limits(self, enabled: bool) -> None:
        await self._request("POST", "rate_limits", {"enabled": enabled})


class LLMControl(_Client):
    """The bench LLM server's timing records (``bench/llm_server.py``)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url.rstrip("/").removesuffix("/v1"), "/_bench")

    async def records(self) -> list[dict[str, Any]]:
        return (await self._request("GET", "records"))["records"]

    async def reset(self) -> None:
        await self._request("POST", "reset", {})


class HubControl(_Client):
    """The bench Hub's job controls (``bench/hub_server.py``)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, "/_bench")

    async def finish_jobs(self) -> dict[str, Any]:
        """Complete every running job now; ``{finished: [ids], at: monotonic}``."""
        return await self._request("POST", "finish_jobs", {})

    async def jobs(self) -> list[dict[str, Any]]:
        return (await self._request("GET", "jobs"))["jobs"]


def calls_by_method(calls: list[dict[str, Any]]) -> dict[str, int]:
    """``{method: count}`` sorted by method, for tables and JSON."""
    return dict(sorted(Counter(c["method"] for c in calls).items()))


def channel_of(call: dict[str, Any]) -> str | None:
    """The channel a recorded Web API call was about (None for auth.test and friends)."""
    args = call.get("args") or {}
    channel = args.get("channel") or args.get("channel_id")
    if isinstance(channel, str):
        return channel
    # files.completeUploadExternal carries the channel inside ``channel_id`` or ``channels``
    channels = args.get("channels")
    if isinstance(channels, str):
        return channels.split(",")[0]
    return None
