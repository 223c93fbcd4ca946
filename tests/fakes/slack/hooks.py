"""Incoming webhooks (``/services/…``) and interactive ``response_url``s (``respond()``).

Both answer in plain text as Slack does (``ok``, ``no_service``, ``invalid_payload``,
``rate_limited`` with ``Retry-After``). A webhook registered with a channel turns posts into
messages there; a response_url applies ``replace_original``/``delete_original``, an
``in_channel`` post, or an ephemeral reply to the message it was issued for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

from aiohttp import web

from tests.fakes.slack.faults import FaultPlan
from tests.fakes.slack.records import (
    BOT_ID,
    BOT_USER_ID,
    WEBHOOK_BOT_ID,
    Call,
    HookPost,
    Message,
    SlackError,
    truthy,
)
from tests.fakes.slack.state import SlackState


class Hooks:
    """The two URL-addressed ways to post without the Web API."""

    def __init__(self, state: SlackState, faults: FaultPlan) -> None:
        self.state = state
        self.faults = faults
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/services/{hook_id:.+}", self._handle_webhook)
        app.router.add_post("/response_url/{hook_id}", self._handle_response_url)

    def add_webhook(self, hook_id: str, channel: str | None = None) -> str:
        """Register an incoming webhook; returns its URL. With a channel, posts become messages."""
        self._webhooks[hook_id] = {"channel": channel}
        return f"{self.state.origin}/services/{hook_id}"

    async def _read_hook_payload(self, request: web.Request) -> dict[str, Any] | None:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return None
            return body if isinstance(body, dict) else None
        form = await request.post()
        raw = form.get("payload")
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
                return body if isinstance(body, dict) else None
        return None

    async def _handle_webhook(self, request: web.Request) -> web.StreamResponse:
        hook_id = request.match_info["hook_id"]
        payload = await self._read_hook_payload(request)
        call = Call(
            "webhook", {"hook_id": hook_id, **(payload or {})}, None, time.monotonic(), "POST"
        )
        post = HookPost(hook_id, payload or {}, call.time)

        def answer(status: int, text: str) -> web.Response:
            post.status = status
            self.state.webhook_posts.append(post)
            self.state.record_call(call, status, text)
            return web.Response(status=status, text=text, content_type="text/html")

        fault = self.faults.take("webhook", call.args)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            resp = self.faults.response(fault, api=False, method="webhook")
            post.status = resp.status
            self.state.webhook_posts.append(post)
            self.state.record_call(call, resp.status, resp.text)
            return resp
        hook = self._webhooks.get(hook_id)
        if hook is None and self.state.strict:
            return answer(404, "no_service")
        if payload is None:
            return answer(400, "invalid_payload")
        text, blocks = payload.get("text"), payload.get("blocks")
        try:
            self.state.check_content(text, blocks, payload.get("attachments"))
        except SlackError as e:
            return answer(400, e.error)
        retry_after = self.faults.rate_limit(
            "chat.postMessage", f"webhook:{hook_id}", count_as="webhook"
        )
        if retry_after is not None:
            post.status = 429
            self.state.webhook_posts.append(post)
            self.state.record_call(call, 429, "rate_limited")
            return web.Response(
                status=429, text="rate_limited", headers={"Retry-After": str(retry_after)}
            )
        if hook and hook.get("channel"):
            channel = self.state.resolve_channel(hook["channel"])
            self.state.store_message(
                Message(
                    channel=channel,
                    ts=self.state.next_ts(),
                    text=text or "",
                    bot_id=WEBHOOK_BOT_ID,
                    blocks=blocks,
                    thread_ts=payload.get("thread_ts"),
                    subtype="bot_message",
                )
            )
        return answer(200, "ok")

    def new_response_url(self, **context: Any) -> str:
        hook_id = secrets.token_hex(8)
        self._response_urls[hook_id] = context
        return f"{self.state.origin}/response_url/{hook_id}"

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        """Apply respond(): replace/delete the source message, in_channel post, or ephemeral."""
        hook_id = request.match_info["hook_id"]
        payload = await self._read_hook_payload(request) or {}
        call = Call("response_url", {"hook_id": hook_id, **payload}, None, time.monotonic(), "POST")
        post = HookPost(hook_id, payload, call.time)
        self.state.response_url_posts.append(post)
        fault = self.faults.take("response_url", call.args)
        if fault is not None:
            resp = self.faults.response(fault, api=False, method="response_url")
            post.status = resp.status
            self.state.record_call(call, resp.status, resp.text)
            return resp
        ctx = self._response_urls.get(hook_id)
        if ctx is None:
            post.status = 404
            self.state.record_call(call, 404, "no_service")
            return web.Response(status=404, text="no_service")
        channel, message_ts = ctx.get("channel"), ctx.get("message_ts")
        source = self.state.get_message(channel, message_ts) if channel and message_ts else None
        text, blocks = payload.get("text"), payload.get("blocks")
        try:
            if truthy(payload.get("delete_original", False)):
                if source is not None:
                    self.state.remove_message(source)
            elif truthy(payload.get("replace_original", False)) and source is not None:
                self.state.check_content(text, blocks, payload.get("attachments"))
                source.edits.append(
                    {"text": source.text, "blocks": source.blocks, "ts": source.edited_ts}
                )
                source.text, source.blocks = text or "", blocks
                source.edited_ts = self.state.next_ts()
                source.changed_at = time.monotonic()
                source.version_times.append(source.changed_at)
            elif payload.get("response_type") == "in_channel" and channel:
                self.state.check_content(text, blocks, payload.get("attachments"))
                self.state.store_message(
                    Message(
                        channel=channel,
                        ts=self.state.next_ts(),
                        text=text or "",
                        user=BOT_USER_ID,
                        bot_id=BOT_ID,
                        blocks=blocks,
                        thread_ts=payload.get("thread_ts") or ctx.get("thread_ts"),
                    )
                )
            else:
                self.state.check_content(text, blocks, payload.get("attachments"))
                self.state.ephemerals.append(
                    {
                        "channel": channel,
                        "user": ctx.get("user"),
                        "ts": self.state.next_ts(),
                        "text": text or "",
                        "blocks": blocks,
                        "thread_ts": payload.get("thread_ts") or ctx.get("thread_ts"),
                        "via": "response_url",
                    }
                )
        except SlackError as e:
            post.status = 400
            self.state.record_call(call, 400, e.error)
            return web.json_response({"ok": False, "error": e.error}, status=400)
        self.state.record_call(call, 200, {"ok": True})
        return web.json_response({"ok": True})
