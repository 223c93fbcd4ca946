"""Slack platform limits, Block Kit validation and rate-limit tiers for the fake Slack.

Kept apart from ``fake_slack`` so the numbers live in one place: the bot's own
chunking/clipping code and the emulator's rejections should be checked against the
same table (see ``/work/shared/reference/slack-anchors.md`` §5 for sources).
The emulator is deliberately *strict*: a payload Slack would reject must be rejected
here too, otherwise tests pass against the fake and fail in production.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# --- message / block limits -------------------------------------------------------

MAX_TEXT_CHARS = 40_000  # chat.postMessage / chat.update `text` -> msg_too_long
MAX_BLOCKS_MESSAGE = 50  # blocks per message -> invalid_blocks
MAX_BLOCKS_VIEW = 100  # blocks per modal / Home tab
MAX_SECTION_TEXT = 3_000  # section.text.text
MAX_SECTION_FIELDS = 10
MAX_SECTION_FIELD_TEXT = 2_000
MAX_MARKDOWN_BLOCK_TEXT = 12_000  # `markdown` block text
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_LOADING_MESSAGES = 10  # assistant.threads.setStatus loading_messages
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3_000
MAX_CALLBACK_ID = 255

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "call",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "plan",
        "rich_text",
        "section",
        "table",
        "task_card",
        "video",
    }
)


def _text_of(obj: Any) -> str:
    """Text objects may be given as dicts ({type, text}) or, sloppily, as bare strings."""
    if isinstance(obj, dict):
        value = obj.get("text", "")
        return value if isinstance(value, str) else ""
    return obj if isinstance(obj, str) else ""


def validate_blocks(blocks: Any, *, max_blocks: int = MAX_BLOCKS_MESSAGE) -> list[str]:
    """Return Slack-style error strings (empty list = valid).

    The messages mimic Slack's ``errors`` array ("... [json-pointer:/blocks/0/text]") so a
    test failure points at the offending block, as it would in production logs.
    """
    errors: list[str] = []
    if not isinstance(blocks, list):
        return ["blocks must be an array [json-pointer:/blocks]"]
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:/blocks]")
    seen_block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{ptr}]")
            continue
        btype = block.get("type")
        if btype not in KNOWN_BLOCK_TYPES:
            errors.append(f"unsupported type: {btype!r} [json-pointer:{ptr}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID:
                errors.append(f"invalid block_id [json-pointer:{ptr}/block_id]")
            elif block_id in seen_block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{ptr}/block_id]")
            else:
                seen_block_ids.add(block_id)
        if btype == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                errors.append(f"section needs text or fields [json-pointer:{ptr}]")
            if len(_text_of(text)) > MAX_SECTION_TEXT:
                errors.append(
                    f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:{ptr}/text/text]"
                )
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
                    errors.append(
                        f"no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{ptr}/fields]"
                    )
                else:
                    for j, f in enumerate(fields):
                        if len(_text_of(f)) > MAX_SECTION_FIELD_TEXT:
                            errors.append(
                                f"must be less than {MAX_SECTION_FIELD_TEXT + 1} characters "
                                f"[json-pointer:{ptr}/fields/{j}/text]"
                            )
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                errors.extend(_validate_element(accessory, f"{ptr}/accessory"))
        elif btype == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                errors.append(f"markdown block needs text [json-pointer:{ptr}/text]")
            elif len(text) > MAX_MARKDOWN_BLOCK_TEXT:
                errors.append(
                    f"must be less than {MAX_MARKDOWN_BLOCK_TEXT + 1} characters "
                    f"[json-pointer:{ptr}/text]"
                )
        elif btype == "header":
            if len(_text_of(block.get("text"))) > MAX_HEADER_TEXT:
                errors.append(
                    f"must be less than {MAX_HEADER_TEXT + 1} characters [json-pointer:{ptr}/text/text]"
                )
        elif btype == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"actions block needs elements [json-pointer:{ptr}/elements]")
            elif len(elements) > MAX_ACTIONS_ELEMENTS:
                errors.append(
                    f"no more than {MAX_ACTIONS_ELEMENTS} items allowed [json-pointer:{ptr}/elements]"
                )
            else:
                for j, el in enumerate(elements):
                    errors.extend(_validate_element(el, f"{ptr}/elements/{j}"))
        elif btype == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"context block needs elements [json-pointer:{ptr}/elements]")
            elif len(elements) > MAX_CONTEXT_ELEMENTS:
                errors.append(
                    f"no more than {MAX_CONTEXT_ELEMENTS} items allowed [json-pointer:{ptr}/elements]"
                )
    return errors


def _validate_element(el: Any, ptr: str) -> list[str]:
    """Interactive-element checks; buttons are what our bot actually sends."""
    if not isinstance(el, dict):
        return [f"must be an object [json-pointer:{ptr}]"]
    errors: list[str] = []
    action_id = el.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ACTION_ID):
        errors.append(f"invalid action_id [json-pointer:{ptr}/action_id]")
    if el.get("type") == "button":
        if len(_text_of(el.get("text"))) > MAX_BUTTON_TEXT:
            errors.append(
                f"must be less than {MAX_BUTTON_TEXT + 1} characters [json-pointer:{ptr}/text/text]"
            )
        value = el.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            errors.append(
                f"must be less than {MAX_BUTTON_VALUE + 1} characters [json-pointer:{ptr}/value]"
            )
    return errors


def validate_view(view: Any) -> list[str]:
    """Modal / Home tab checks (views.open)."""
    if not isinstance(view, dict):
        return ["view must be an object [json-pointer:/view]"]
    errors: list[str] = []
    vtype = view.get("type")
    if vtype not in ("modal", "home"):
        errors.append("type must be modal or home [json-pointer:/view/type]")
    if vtype == "modal":
        title = _text_of(view.get("title"))
        if not title:
            errors.append("modal needs a title [json-pointer:/view/title]")
        elif len(title) > MAX_VIEW_TITLE:
            errors.append(
                f"must be less than {MAX_VIEW_TITLE + 1} characters [json-pointer:/view/title/text]"
            )
    pm = view.get("private_metadata")
    if pm is not None and (not isinstance(pm, str) or len(pm) > MAX_PRIVATE_METADATA):
        errors.append(
            f"must be less than {MAX_PRIVATE_METADATA + 1} characters "
            "[json-pointer:/view/private_metadata]"
        )
    cb = view.get("callback_id")
    if cb is not None and (not isinstance(cb, str) or len(cb) > MAX_CALLBACK_ID):
        errors.append("invalid callback_id [json-pointer:/view/callback_id]")
    errors.extend(
        e.replace("json-pointer:/blocks", "json-pointer:/view/blocks")
        for e in validate_blocks(view.get("blocks", []), max_blocks=MAX_BLOCKS_VIEW)
    )
    return errors


# --- rate-limit tiers -------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` calls at once, refilled at ``per_minute``.

    Slack documents tiers as "N+ per minute, bursts tolerated"; a bucket is the simplest
    model that lets a short burst through and then throttles a sustained loop, which is
    exactly the behaviour a streaming-edit bot has to survive.
    """

    per_minute: float
    burst: int
    per_channel: bool = False


TIER1 = RateLimit(per_minute=1, burst=2)
TIER2 = RateLimit(per_minute=20, burst=4)
TIER3 = RateLimit(per_minute=50, burst=10)
TIER4 = RateLimit(per_minute=100, burst=20)
POST_MESSAGE = RateLimit(per_minute=60, burst=3, per_channel=True)  # ~1/s per channel

DEFAULT_RATE_LIMITS: Mapping[str, RateLimit] = {
    "chat.postMessage": POST_MESSAGE,
    "chat.update": TIER3,
    "chat.postEphemeral": TIER4,
    "chat.getPermalink": TIER4,
    "reactions.add": TIER3,
    "reactions.remove": TIER3,
    "conversations.replies": TIER3,
    "conversations.open": TIER3,
    "usergroups.users.list": TIER2,
    "views.open": TIER4,
    "files.getUploadURLExternal": TIER4,
    "files.completeUploadExternal": TIER4,
    "files.delete": TIER3,
    "assistant.threads.setStatus": TIER3,
    "auth.test": TIER4,
    "apps.connections.open": TIER1,
}


class RateLimiter:
    """Per-method (optionally per-channel) token buckets on an injectable clock.

    The clock is injectable so tests can step time instead of sleeping; production-like
    runs use ``time.monotonic`` (wall-clock jumps must not refill buckets).
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits: dict[str, RateLimit] = dict(DEFAULT_RATE_LIMITS if limits is None else limits)
        self.clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, t)

    def configure(
        self,
        methods: Iterable[str] | None = None,
        overrides: Mapping[str, RateLimit] | None = None,
    ) -> None:
        """Restrict enforcement to ``methods`` and/or replace individual tiers."""
        base = dict(DEFAULT_RATE_LIMITS)
        base.update(overrides or {})
        if methods is not None:
            wanted = set(methods)
            base = {m: base[m] for m in wanted if m in base}
        self.limits = base
        self._buckets.clear()

    def check(self, method: str, channel: str | None = None) -> int | None:
        """Consume one token; return ``None`` if allowed, else Retry-After seconds (>= 1)."""
        limit = self.limits.get(method)
        if limit is None:
            return None
        key = (method, (channel or "") if limit.per_channel else "")
        now = self.clock()
        rate = limit.per_minute / 60.0
        tokens, last = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        wait = (1.0 - tokens) / rate if rate > 0 else 60.0
        return max(1, math.ceil(wait))
