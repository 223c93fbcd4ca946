"""The Web API endpoint ``/api/<method>``: arguments, tokens, faults, rate limits, dispatch.

Arguments are merged from the query string and a JSON, form or multipart body (the SDK uses
all of them); the token comes from ``Authorization: Bearer`` or a ``token`` argument. The bot
token is required for every method except ``apps.connections.open`` (the app token); the wrong
kind gets ``not_allowed_token_type``, an unknown one ``invalid_auth``, as in Slack. Every call
is recorded (``state.calls``) with how it was encoded on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes.slack import files, web_methods
from tests.fakes.slack.faults import FaultPlan
from tests.fakes.slack.records import OAUTH_SCOPES, Call, SlackError
from tests.fakes.slack.state import SlackState
from tests.fakes.slack.web_methods import Method

# Arguments the SDK sends JSON-encoded inside form bodies.
JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata", "loading_messages")


class WebApi:
    """Serves ``/api/<method>`` over the workspace state."""

    def __init__(
        self,
        state: SlackState,
        faults: FaultPlan,
        *,
        bot_token: str,
        app_token: str,
        extra_methods: Mapping[str, Method] | None = None,
    ) -> None:
        self.state = state
        self.faults = faults
        self.bot_token = bot_token
        self.app_token = app_token
        self.methods: dict[str, Method] = {
            **web_methods.METHODS,
            **files.METHODS,
            **(extra_methods or {}),
        }

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._handle_api)

    async def _read_args(self, request: web.Request) -> tuple[dict[str, Any], str]:
        args: dict[str, Any] = dict(request.query)
        parts = ["query"] if args else []
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    args.update(body)
                parts.append("json")
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    args[key] = value.file.read() if isinstance(value, web.FileField) else value
                parts.append("form" if ctype.startswith("application") else "multipart")
            else:
                raw = await request.read()
                if raw:
                    args["_raw"] = raw
                    parts.append("raw")
        for key in JSON_FIELDS:
            value = args.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        return args, "+".join(parts)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        t0 = time.monotonic()
        method = request.match_info["method"]
        args, encoding = await self._read_args(request)
        token = None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :].strip()
        elif "token" in args:
            token = str(args.pop("token"))
        args.pop("token", None)
        call = Call(method, args, token, t0, request.method, encoding)
        headers = {"x-oauth-scopes": OAUTH_SCOPES, "x-accepted-oauth-scopes": ""}

        def answer(body: dict[str, Any], status: int = 200) -> web.Response:
            self.state.record_call(call, status, body)
            return web.json_response(body, status=status, headers=headers)

        handler = self.methods.get(method)
        if handler is None:
            return answer({"ok": False, "error": "unknown_method", "req_method": method})
        if token is None:
            return answer({"ok": False, "error": "not_authed"})
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            wrong_type = token in (self.app_token, self.bot_token)
            return answer(
                {"ok": False, "error": "not_allowed_token_type" if wrong_type else "invalid_auth"}
            )
        fault = self.faults.take(method, args)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)  # server-side latency, not a test wait
            resp = self.faults.response(fault, api=True, method=method)
            self.state.record_call(
                call,
                resp.status,
                json.loads(resp.text) if resp.content_type == "application/json" else resp.text,
            )
            return resp
        retry_after = self.faults.rate_limit(method, args.get("channel") or args.get("channel_id"))
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
            return answer({"ok": False, "error": "ratelimited"}, 429)
        try:
            result = handler(self.state, args)
        except SlackError as e:
            return answer({"ok": False, "error": e.error, **e.extra})
        lost = self.faults.take_lost(method, args)
        if lost is not None:  # done in Slack; the caller hears nothing until released
            peer = request.transport.get_extra_info("peername") if request.transport else None
            lost.peer = tuple(peer[:2]) if peer else None
            self.state.record_call(call, 200, {"ok": True, **result})
            await lost.release.wait()
            return web.json_response({"ok": True, **result}, headers=headers)
        return answer({"ok": True, **result})
