"""The control API (``/_control/…``): drive the emulator from another process.

Benchmarks run the bot as a real process against ``python -m tests.fakes.fake_slack``; this
JSON API lets such a driver act as people (mention, click), wait on Slack-side outcomes and
read the traffic record. Every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": …}``
(400 for a bad request, 504 for a timeout).

=========================  =================================================================
``GET  /_control/health``  ``{base_url, ws_connections}``
``POST /_control/mention`` ``{text, channel?, user?, thread_ts?, connection?, avoid?}`` -> ``{ts, ack}``
``POST /_control/click``   ``{channel, message_ts, action_id, value?, user?, block_id?, connection?, avoid?}``
``POST /_control/rate_limits`` ``{enabled, methods?, overrides?: {m: {per_minute, burst, per_channel?}}}``
``POST /_control/wait_call``   ``{method, count?, timeout?}`` -> ``{call}``
``POST /_control/reset_counters`` clear calls / acks / rate_limited (state is kept)
``GET  /_control/calls?method=&since=`` -> ``{calls, total}``
``GET  /_control/acks``        -> ``{acks}``
``GET  /_control/deliveries``  -> ``{deliveries}``: which connection got each envelope, acked when
``GET  /_control/connections`` -> ``{connections}``: number, peer_port, open, opened/closed_at
``GET  /_control/messages?channel=&thread_ts=`` -> ``{messages}``
``GET  /_control/stats``       -> ``{calls_by_method, rate_limited, ws_connections, acks, ack_latency_s}``
``POST /_control/wait_message``   ``{channel, thread_ts?, contains?, bot_only?, timeout?}`` -> ``{message}``
``POST /_control/wait_connected`` ``{min_opened?, timeout?}`` -> ``{connected_at, connections_opened}``
``POST /_control/find_messages``  ``{queries: [{channel, thread_ts?, contains}]}`` -> ``{found}``
=========================  =================================================================

Times for out-of-process benchmarks: acks carry ``sent_at``/``acked_at`` and messages
``created_at``/``changed_at`` (the last post or edit). They are ``time.monotonic()`` values,
i.e. Linux ``CLOCK_MONOTONIC``, one clock for every process on the host, so a driver can
subtract them from its own readings. They are real time even when a fake ``clock`` is
injected (that clock only drives rate limits and trigger expiry).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes import slack_limits as limits
from tests.fakes.slack.faults import FaultPlan
from tests.fakes.slack.people import People
from tests.fakes.slack.records import AckTimeout, Message
from tests.fakes.slack.socket_mode import Connection, SocketMode
from tests.fakes.slack.state import SlackState


class ControlApi:
    """JSON endpoints over the emulator's parts, for drivers outside the test's process."""

    def __init__(
        self, state: SlackState, socket: SocketMode, people: People, faults: FaultPlan
    ) -> None:
        self.state = state
        self.socket = socket
        self.people = people
        self.faults = faults

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/_control/health", self._ctl_health)
        r.add_post("/_control/mention", self._ctl_mention)
        r.add_post("/_control/click", self._ctl_click)
        r.add_post("/_control/rate_limits", self._ctl_rate_limits)
        r.add_post("/_control/wait_call", self._ctl_wait_call)
        r.add_post("/_control/reset_counters", self._ctl_reset)
        r.add_get("/_control/calls", self._ctl_calls)
        r.add_get("/_control/acks", self._ctl_acks)
        r.add_get("/_control/deliveries", self._ctl_deliveries)
        r.add_get("/_control/connections", self._ctl_connections)
        r.add_get("/_control/messages", self._ctl_messages)
        r.add_get("/_control/stats", self._ctl_stats)
        r.add_post("/_control/wait_message", self._ctl_wait_message)
        r.add_post("/_control/wait_connected", self._ctl_wait_connected)
        r.add_post("/_control/find_messages", self._ctl_find_messages)

    @staticmethod
    async def _ctl_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    async def _ctl(
        self, request: web.Request, action: Callable[[dict[str, Any]], Any]
    ) -> web.Response:
        try:
            body = await self._ctl_body(request)
            result = await action(body)
        except AckTimeout as e:
            return web.json_response(
                {"ok": False, "error": "ack_timeout", "detail": str(e)}, status=504
            )
        except TimeoutError as e:
            return web.json_response(
                {"ok": False, "error": "timeout", "detail": str(e)}, status=504
            )
        except (KeyError, LookupError, ValueError, TypeError) as e:
            return web.json_response(
                {"ok": False, "error": type(e).__name__, "detail": str(e)}, status=400
            )
        return web.json_response({"ok": True, **result})

    async def _ctl_health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "base_url": self.state.origin + "/api/",
                "ws_connections": self.socket.ws_connections,
            }
        )

    async def _ctl_mention(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            ts, ack = await self.people.mention(
                b["text"],
                b.get("channel", "C1"),
                b.get("user", "U1"),
                b.get("thread_ts"),
                ack_timeout=b.get("ack_timeout"),
                connection=b.get("connection"),
                avoid=b.get("avoid") or (),
            )
            return {"ts": ts, "ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_click(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            ack = await self.people.click_button(
                b["channel"],
                b["message_ts"],
                b["action_id"],
                b.get("value"),
                b.get("user", "U1"),
                b.get("block_id"),
                ack_timeout=b.get("ack_timeout"),
                connection=b.get("connection"),
                avoid=b.get("avoid") or (),
            )
            return {"ack": ack.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_rate_limits(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            if not b.get("enabled", True):
                self.faults.disable_rate_limits()
                return {"enabled": False}
            overrides = {
                m: limits.RateLimit(**spec) for m, spec in (b.get("overrides") or {}).items()
            }
            self.faults.enable_rate_limits(b.get("methods"), overrides)
            return {"enabled": True, "methods": sorted(self.faults.limiter.limits)}

        return await self._ctl(request, act)

    async def _ctl_wait_call(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            call = await self.state.wait_for_call(
                b["method"], count=int(b.get("count", 1)), timeout=float(b.get("timeout", 5))
            )
            return {"call": call.to_dict()}

        return await self._ctl(request, act)

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        async def act(b: dict[str, Any]) -> dict[str, Any]:
            self.state.reset_counters()
            return {}

        return await self._ctl(request, act)

    async def _ctl_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        since = int(request.query.get("since", 0))
        calls = [
            c.to_dict() for c in self.state.calls[since:] if method is None or c.method == method
        ]
        return web.json_response({"ok": True, "calls": calls, "total": len(self.state.calls)})

    async def _ctl_acks(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "acks": [a.to_dict() for a in self.state.acks]})

    async def _ctl_deliveries(self, request: web.Request) -> web.Response:
        rows = [d.to_dict() for d in self.socket.deliveries]
        return web.json_response({"ok": True, "deliveries": rows})

    async def _ctl_connections(self, request: web.Request) -> web.Response:
        rows = [c.to_dict() for c in self.socket.connections]
        return web.json_response({"ok": True, "connections": rows})

    async def _ctl_messages(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "C1")
        thread_ts = request.query.get("thread_ts")
        msgs = (
            self.state.thread_messages(channel, thread_ts)
            if thread_ts
            else self.state.messages(channel)
        )
        return web.json_response({"ok": True, "messages": [self._timed_json(m) for m in msgs]})

    def _timed_json(self, msg: Message) -> dict[str, Any]:
        """A message as the control API shows it: Slack's JSON plus real monotonic times."""
        return {
            **self.state.message_json(msg),
            "created_at": msg.created_at,
            "changed_at": msg.changed_at,
        }

    async def _ctl_wait_message(self, request: web.Request) -> web.Response:
        """Block until a message in ``channel`` (optionally a reply in ``thread_ts``, optionally
        only from the bot) contains ``contains`` in its text or blocks.

        Lets an out-of-process driver time "mention → answer posted" from the emulator's own
        record of when the message appeared, instead of polling ``messages``.
        """

        async def act(b: dict[str, Any]) -> dict[str, Any]:
            channel, thread_ts = b["channel"], b.get("thread_ts")
            needle, bot_only = b.get("contains"), bool(b.get("bot_only", True))

            def matches(m: Message) -> bool:
                if bot_only and not m.is_bot:
                    return False
                if thread_ts and m.ts == thread_ts:
                    return False  # the root is the question, not an answer
                if needle is None:
                    return True
                return needle in m.text or needle in json.dumps(m.blocks or [])

            msg = await self.state.wait_for_message(
                channel, matches, thread_ts=thread_ts, timeout=float(b.get("timeout", 5))
            )
            return {"message": self._timed_json(msg)}

        return await self._ctl(request, act)

    async def _ctl_find_messages(self, request: web.Request) -> web.Response:
        """Non-blocking lookup of many answers at once: per query, the first bot reply that
        contains ``contains`` (``{ts, at, count}``, ``at`` = when a version of it first did,
        ``count`` = how many replies contain it) or null.

        For hundreds of concurrent sessions a driver polls this instead of holding one
        ``wait_message`` per session: those waiters are all re-checked on every state change,
        which would load the emulator — and so the machine the bot is measured on.
        """

        async def act(b: dict[str, Any]) -> dict[str, Any]:
            found: list[dict[str, Any] | None] = []
            for q in b["queries"]:
                channel, thread_ts, needle = q["channel"], q.get("thread_ts"), q["contains"]
                pool = (
                    self.state.thread_messages(channel, thread_ts, include_root=False)
                    if thread_ts
                    else self.state.messages(channel)
                )
                hits = [(m, at) for m in pool if m.is_bot and (at := m.first_seen(needle))]
                if not hits:
                    found.append(None)
                    continue
                first, at = min(hits, key=lambda h: h[1])
                found.append({"ts": first.ts, "at": at, "count": len(hits)})
            return {"found": found}

        return await self._ctl(request, act)

    async def _ctl_wait_connected(self, request: web.Request) -> web.Response:
        """Block until a Socket Mode connection numbered ``min_opened`` or later is open;
        ``connected_at`` is when its ``hello`` went out (a restarted bot: pass the count
        seen before the restart + 1)."""

        async def act(b: dict[str, Any]) -> dict[str, Any]:
            wanted = int(b.get("min_opened", 1))

            def current() -> Connection | None:
                conn = self.socket.current_conn()
                return conn if conn is not None and conn.number >= wanted else None

            conn = await self.state.wait_for(current, float(b.get("timeout", 5)))
            return {
                "connected_at": conn.opened_at,
                "connections_opened": self.socket.connections_opened,
            }

        return await self._ctl(request, act)

    async def _ctl_stats(self, request: web.Request) -> web.Response:
        lat = sorted(a.latency_s for a in self.state.acks if a.latency_s == a.latency_s)

        def pct(p: float) -> float | None:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

        return web.json_response(
            {
                "ok": True,
                "calls_by_method": dict(self.state.calls_by_method()),
                "rate_limited": dict(self.state.rate_limited),
                "ws_connections": self.socket.ws_connections,
                "connections_opened": self.socket.connections_opened,
                "acks": len(self.state.acks),
                "ack_latency_s": {
                    "p50": pct(0.5),
                    "p95": pct(0.95),
                    "max": lat[-1] if lat else None,
                },
            }
        )
