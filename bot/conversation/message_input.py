"""The text one Slack message becomes for the model: who wrote it, what they wrote, their files,
and what the thread said around it.

Several people share a thread, so every user message carries its author's display name and the
requester is marked. Messages in a session's thread that talk to a colleague rather than the bot
are kept (:class:`ThreadNotes`) and given to the model with the next message addressed to it.
A session started inside an existing human thread is seeded with the thread's recent messages,
decoded the same way (no whitespace collapsing: code in the thread stays code).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from agent_core.tools.base import session_workspace
from bot.conversation.attachments import FileIntake
from bot.conversation.slack_text import Decoded, NameResolver, decode_message
from bot.slack.threads import thread_replies

if TYPE_CHECKING:
    from agent_core.store import Store
    from bot.slack.sender import SlackSender

log = logging.getLogger(__name__)

NOTES_KV = "slack_thread_notes"
NOTES_MAX = 30
NOTE_CHARS = 4_000
SEED_CHARS = 4_000


@dataclass
class Composed:
    """A message ready for the engine: the text, what to remember about it, file problems."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    file_notes: list[str] = field(default_factory=list)
    decoded: Decoded | None = None


async def author_name(names: NameResolver | None, user: str) -> str:
    name = await names.user(user) if names is not None and user else None
    return name or user or "someone"


def author_line(name: str, *, is_requester: bool, edited: bool = False) -> str:
    who = f"@{name} (the requester)" if is_requester else f"@{name}"
    return f"{'(edited) ' if edited else ''}Message from {who}:"


class ThreadNotes:
    """Messages in a session's thread not addressed to the bot, kept for its next turn."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, session_id: str, who: str, text: str, ts: str) -> None:
        notes = await self.store.kv_get(NOTES_KV, session_id) or []
        notes.append({"who": who, "text": text[:NOTE_CHARS], "ts": ts})
        await self.store.kv_set(NOTES_KV, session_id, notes[-NOTES_MAX:])

    async def take(self, session_id: str) -> list[dict[str, str]]:
        notes = await self.store.kv_get(NOTES_KV, session_id) or []
        if notes:
            await self.store.kv_delete(NOTES_KV, [session_id])
        return [n for n in notes if isinstance(n, dict)]


class InputComposer:
    """Builds :class:`Composed` inputs; its collaborators are explicit, so tests can swap them."""

    def __init__(
        self,
        *,
        names: NameResolver | None,
        files: FileIntake | None,
        notes: ThreadNotes,
        sender: SlackSender,
        state_dir: Path | None,
        seed_limit: int,
    ) -> None:
        self.names = names
        self.files = files
        self.notes = notes
        self.sender = sender
        self.state_dir = state_dir
        self.seed_limit = seed_limit

    async def compose(
        self,
        event: dict[str, Any],
        *,
        session_id: str,
        user: str,
        requester: str,
        bot_user_id: str | None,
        seed_from: tuple[str, str] | None = None,
        edited: bool = False,
        with_notes: bool = True,
    ) -> Composed:
        """``event`` is the Slack message; ``seed_from`` is ``(channel, thread_ts)`` when the
        session starts inside an existing thread."""
        decoded = await decode_message(event, self.names, bot_user_id=bot_user_id)
        name = await author_name(self.names, user)
        parts: list[str] = []
        if seed_from is not None:
            seed = await self._seed(
                *seed_from, before_ts=str(event.get("ts") or ""), bot=bot_user_id
            )
            if seed:
                parts.append(seed)
        notes = await self.notes.take(session_id) if with_notes else []
        if notes:
            lines = [f"@{n.get('who')}: {n.get('text')}" for n in notes]
            parts.append(
                "[Messages in this thread since your last turn, between other people (not "
                "addressed to you), oldest first:]\n"
                + "\n".join(lines)
                + "\n[End of those messages.]"
            )
        body = author_line(name, is_requester=user == requester, edited=edited)
        if decoded.text:
            body += "\n" + decoded.text
        composed = Composed(text="", decoded=decoded)
        files_text = await self._files(event, session_id, composed)
        if files_text:
            body += "\n\n" + files_text
        parts.append(body)
        composed.text = "\n\n".join(parts)
        composed.meta.update(
            slack_ts=str(event.get("ts") or ""),
            author=user,
            author_name=name,
            requester=user == requester,
        )
        if decoded.users:
            composed.meta["slack_users"] = decoded.users
        return composed

    async def context_note(
        self, event: dict[str, Any], *, session_id: str, user: str, bot_user_id: str | None
    ) -> Composed:
        """A message between colleagues in the thread, kept for the next turn: its text and
        its files (saved now, so the next turn can read them)."""
        decoded = await decode_message(event, self.names, bot_user_id=bot_user_id)
        composed = Composed(text=decoded.text, decoded=decoded)
        files_text = await self._files(event, session_id, composed)
        if files_text:
            composed.text = (composed.text + "\n" + files_text).strip()
        if composed.text:
            who = await author_name(self.names, user)
            await self.notes.add(session_id, who, composed.text, str(event.get("ts") or ""))
        return composed

    async def _files(self, event: dict[str, Any], session_id: str, composed: Composed) -> str:
        files = [f for f in event.get("files") or [] if isinstance(f, dict)]
        if not files:
            return ""
        if self.files is None:
            names = ", ".join(str(f.get("name") or f.get("id")) for f in files)
            return f"[Files attached, but file access is switched off here: {names}]"
        ingested = await self.files.ingest(files, session_workspace(self.state_dir, session_id))
        composed.file_notes = ingested.notes
        composed.meta["files"] = [s.name for s in ingested.saved]
        return ingested.text

    async def _seed(self, channel: str, thread_ts: str, *, before_ts: str, bot: str | None) -> str:
        """The thread's recent messages before the mention, oldest first, decoded."""
        if self.seed_limit <= 0:
            return ""
        messages: list[dict[str, Any]] = []
        try:
            async for m in thread_replies(self.sender, channel, thread_ts, max_pages=5):
                messages.append(m)
        except SlackApiError as exc:
            log.warning(
                "could not read the thread to seed the session: %s", exc.response.get("error")
            )
            return ""
        earlier = [
            m
            for m in messages
            if m.get("ts") != before_ts
            and float(m.get("ts") or 0) < float(before_ts or 0)
            and m.get("user") != bot
            and ((m.get("text") or "").strip() or m.get("blocks") or m.get("attachments"))
        ][-self.seed_limit :]
        lines = []
        for m in earlier:
            decoded = await decode_message(m, self.names, bot_user_id=bot)
            if not decoded.text:
                continue
            if m.get("user"):
                who = "@" + await author_name(self.names, str(m["user"]))
            else:
                who = str(m.get("username") or "a bot")
            text = decoded.text
            if len(text) > SEED_CHARS:
                text = text[:SEED_CHARS] + f"\n[… {len(decoded.text) - SEED_CHARS} more characters]"
            lines.append(f"{who}: {text}")
        if not lines:
            return ""
        return (
            "[You were just mentioned in an existing Slack thread. Its most recent messages "
            "before the mention, oldest first:]\n" + "\n".join(lines) + "\n[End of thread "
            "context. The message addressed to you follows.]"
        )
