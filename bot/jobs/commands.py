"""The babysitter's thread commands: ``preferences``, ``history`` / ``log``, ``compare``.

* ``preferences`` shows what applies to this thread (rules in plain words, then the team's
  prose); ``preferences set`` followed by the file's text (a ``preferences.md``: Markdown with
  YAML blocks) sets it for this thread, ``preferences set channel`` for the whole channel,
  ``preferences clear [channel]`` removes it. A bad file is answered with the parser's
  errors (block, key path, what is expected) and nothing is stored. Changing a channel's
  preferences is for the people who may approve GPU jobs (it decides what gets proposed).
* ``history`` / ``log`` posts the thread's experiment log and attaches it as Markdown.
* ``compare`` draws this thread's runs on one chart with their hyper-parameters.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from agent_core.jobs.charts import Run, render_comparison_async
from agent_core.jobs.experiment_log import experiment_log, to_markdown
from agent_core.jobs.preference_book import (
    MAX_PREFERENCES_CHARS,
    PreferenceBook,
    channel_scope,
    thread_scope,
)
from agent_core.jobs.preferences import PreferencesError
from bot.conversation.attachments import DownloadError
from bot.jobs.babysitting import notify_channels
from bot.slack.files import upload_text
from bot.slack.format import MAX_SECTION, Payload, esc, to_dicts

if TYPE_CHECKING:
    from agent_core.store import Store
    from agent_core.tools.base import Services
    from bot.conversation.attachments import SlackFileDownloader
    from bot.conversation.incoming import Incoming
    from bot.slack.replies import Replies

log = logging.getLogger(__name__)

_PREFS = re.compile(
    r"^\s*/?preferences(?:\s+(?P<verb>set|clear)(?:\s+(?P<scope>channel|thread))?)?"
    r"(?:\s*\n(?P<body>.*)|\s*)$",
    re.IGNORECASE | re.DOTALL,
)
_LEADING_MENTION = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>\s*)+")
_SIMPLE = {"history": "history", "log": "history", "compare": "compare"}
LOG_LINES_SHOWN = 15


@dataclass(frozen=True)
class BabysitterCommand:
    name: str  # preferences | history | compare
    verb: str = "show"  # show | set | clear
    scope: str = "thread"
    body: str = ""


def parse_babysitter_command(text: str) -> BabysitterCommand | None:
    """The babysitter command ``text`` is (multi-line bodies kept), or None."""
    stripped = (text or "").strip()
    low = " ".join(stripped.split()).lower().rstrip(".!").lstrip("/!")
    if low in _SIMPLE:
        return BabysitterCommand(_SIMPLE[low])
    m = _PREFS.match(stripped)
    if m is None:
        return None
    return BabysitterCommand(
        "preferences",
        verb=(m.group("verb") or "show").lower(),
        scope=(m.group("scope") or "thread").lower(),
        body=_unfence_file(m.group("body") or ""),
    )


def _unfence_file(body: str) -> str:
    """Slack users paste a file inside a ``` block; the file itself has its own fences."""
    b = body.strip()
    if b.startswith("```") and b.endswith("```") and "```yaml" not in b[3:10].lower():
        inner = b[3:-3].strip("\n")
        if "```" in inner:  # the pasted file had fences of its own: keep it as pasted
            return inner
    return body


def _attached_preferences(msg: Incoming) -> dict[str, Any] | None:
    """A ``preferences.md`` (any ``*.md`` when it is the only file) attached to the message."""
    files = [f for f in msg.files if isinstance(f, dict)]
    named = [f for f in files if str(f.get("name") or "").lower() == "preferences.md"]
    if named:
        return named[0]
    if len(files) == 1 and str(files[0].get("name") or "").lower().endswith(".md"):
        return files[0]
    return None


def _text_payload(text: str, fallback: str) -> Payload:
    return Payload(
        text=fallback,
        blocks=to_dicts([SectionBlock(text=MarkdownTextObject(text=text[:MAX_SECTION]))]),
    )


class BabysitterCommands:
    """Runs the commands above for the thread they were sent in."""

    def __init__(
        self,
        *,
        store: Store,
        replies: Replies,
        services: Services,
        may_set_channel: Any,
        downloader: SlackFileDownloader | None = None,
    ) -> None:
        self.store = store
        self.replies = replies
        self.services = services  # ``services.jobs`` is attached after connect: read it late
        self.may_set_channel = may_set_channel
        self.downloader = downloader
        default = getattr(getattr(services.config, "jobs", None), "preferences_file", None)
        self.book = PreferenceBook(store, default)

    async def run(self, cmd: BabysitterCommand, msg: Incoming) -> None:
        if cmd.name == "preferences":
            await self.preferences(cmd, msg)
        elif cmd.name == "history":
            await self.history(msg)
        elif cmd.name == "compare":
            await self.compare(msg)

    async def preferences(self, cmd: BabysitterCommand, msg: Incoming) -> None:
        sid = msg.ref.session_id
        scope = channel_scope(msg.channel) if cmd.scope == "channel" else thread_scope(sid)
        attached = _attached_preferences(msg) if cmd.verb in ("show", "set") else None
        if attached is not None and not cmd.body.strip():
            cmd = BabysitterCommand("preferences", "set", cmd.scope)  # the file sets them
        if cmd.verb in ("set", "clear") and cmd.scope == "channel":
            if not await self.may_set_channel(msg, "change this channel's preferences"):
                return
        if cmd.verb == "clear":
            gone = await self.book.clear(scope)
            text = "Preferences removed." if gone else "There were no preferences to remove."
            await self.replies.post(msg.channel, msg.root_ts, _text_payload(text, text))
            return
        if cmd.verb == "set":
            # The intake collapses runs of spaces (fine for prose, fatal for YAML): read the
            # file's text again from the message as sent, only the leading mention removed.
            raw = parse_babysitter_command(_LEADING_MENTION.sub("", msg.text))
            cmd = raw if raw is not None and raw.body.strip() else cmd
            if not cmd.body.strip() and attached is not None:
                text = await self._download(msg, attached)
                if text is None:
                    return
                await self.set_preferences(msg, scope, text)
                return
            if not cmd.body.strip():
                await self.replies.ephemeral(
                    msg.channel,
                    msg.user,
                    "Put the preferences.md text on the lines after `preferences set`.",
                    msg.thread_ts,
                )
                return
            await self.set_preferences(msg, scope, cmd.body)
            return
        await self.show(msg)

    async def _download(self, msg: Incoming, f: dict[str, Any]) -> str | None:
        """The attached preferences.md as text (bot token, Slack hosts only, size-capped)."""
        url = str(f.get("url_private_download") or f.get("url_private") or "")
        problem = None
        if self.downloader is None:
            problem = "file access is switched off here (`slack.files.enabled`)"
        else:
            with tempfile.TemporaryDirectory() as tmp:
                dest = Path(tmp) / "preferences.md"
                try:
                    await self.downloader.fetch(
                        url, dest, max_bytes=MAX_PREFERENCES_CHARS * 4, expect_html=False
                    )
                    return dest.read_text(encoding="utf-8", errors="replace")
                except DownloadError as exc:
                    problem = str(exc)
        await self.replies.ephemeral(
            msg.channel, msg.user, f"I couldn't read that preferences.md: {problem}.", msg.thread_ts
        )
        return None

    async def set_preferences(self, msg: Incoming, scope: str, text: str) -> bool:
        """Validate and store a preferences.md for ``scope``, answering in the thread: the
        saved rules, or the parser's errors (nothing stored). Also the entry point for a
        ``preferences.md`` attached to a message (its text, downloaded by the intake)."""
        try:
            await self.book.set(scope, text, set_by=msg.user)
        except PreferencesError as exc:
            problems = "\n".join(f"• {esc(line)}" for line in str(exc).splitlines())
            await self.replies.post(
                msg.channel,
                msg.root_ts,
                _text_payload(
                    f":x: Those preferences were *not* saved:\n{problems}",
                    "Preferences not saved",
                ),
            )
            return False
        await self.show(msg, saved=True)
        return True

    async def show(self, msg: Incoming, *, saved: bool = False) -> None:
        prefs = await self.book.for_session(msg.ref.session_id, {"channel": msg.channel})
        text = ("Saved. " if saved else "") + esc(prefs.describe())
        unreachable = [n for n in prefs.spec.notify if not notify_channels([n], exclude="")]
        if unreachable:
            text += (
                "\n:warning: I can't post to "
                + ", ".join(f"`{esc(n)}`" for n in unreachable)
                + ": type the channel as #name in Slack (it becomes a link) or give its id."
            )
        if prefs.prose:
            text += "\n\n" + "\n".join(f"> {esc(line)}" for line in prefs.prose.splitlines()[:20])
        await self.replies.post(msg.channel, msg.root_ts, _text_payload(text, "Preferences"))

    async def history(self, msg: Incoming) -> None:
        entries = await experiment_log(self.store, msg.ref.session_id)
        shown = [f"• {esc(e.kind)}: {esc(e.text)}" for e in entries[-LOG_LINES_SHOWN:]]
        head = "*Experiment log*" + (
            f" (last {LOG_LINES_SHOWN} of {len(entries)})" if len(entries) > LOG_LINES_SHOWN else ""
        )
        body = "\n".join(shown) if shown else "Nothing yet: no job in this thread."
        await self.replies.post(
            msg.channel, msg.root_ts, _text_payload(f"{head}\n{body}", "Experiment log")
        )
        if entries:
            await upload_text(
                self.replies.sender,
                channel=msg.channel,
                thread_ts=msg.root_ts,
                filename="experiment-log.md",
                content=to_markdown(entries),
                title="Experiment log",
            )

    async def compare(self, msg: Incoming) -> None:
        watcher = self.services.jobs
        runs = await watcher.runs(msg.ref.session_id) if watcher is not None else []
        runs = [r for r in runs if not r["series"].is_empty()]
        if not runs:
            text = "No run in this thread has logged metrics yet."
            await self.replies.post(msg.channel, msg.root_ts, _text_payload(text, text))
            return
        png = await render_comparison_async(
            [
                Run(f"{r['job_id'][:8]} ({r['stage'].lower()})", r["series"], r["hyperparameters"])
                for r in runs
            ],
            f"{len(runs)} runs compared",
        )
        await upload_text(
            self.replies.sender,
            channel=msg.channel,
            thread_ts=msg.root_ts,
            filename="runs-compared.png",
            content=png,
            title=f"{len(runs)} runs compared",
        )
