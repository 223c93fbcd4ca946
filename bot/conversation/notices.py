"""Short thread messages: errors, command results, session changes, status, help."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from agent_core.pricing import format_usd
from bot.conversation.progress import plan_lines
from bot.slack.format import MAX_SECTION, Payload, code_inline, esc, to_dicts, user_ref

_ERROR_HINTS = {
    "rate_limit": "The model provider is rate-limiting us; try again in a minute.",
    "auth": "The model provider rejected our credentials; an admin needs to check the API key.",
    "context_overflow": "Start a new thread, or `undo` the last large step.",
    "timeout": "The model took too long to answer; reply to try again.",
    "restart": None,
}


def _section(text: str) -> list[dict[str, Any]]:
    return to_dicts([SectionBlock(text=MarkdownTextObject(text=text[:MAX_SECTION]))])


def simple(text: str) -> Payload:
    """A plain mrkdwn message (already escaped by the caller where needed)."""
    return Payload(text=text.replace("*", "")[:300], blocks=_section(text))


def error_payload(error: str, kind: str | None) -> Payload:
    """One clear message for a failed turn: what happened and what to do next."""
    message = " ".join(str(error or "Something went wrong.").split())[:1_500]
    if kind == "approval":
        return simple(f":information_source: {esc(message)}")
    hint = _ERROR_HINTS.get(kind or "", "Reply in this thread to try again.")
    text = f":warning: *Something went wrong.* {esc(message)}"
    blocks = _section(text)
    if hint:
        blocks += to_dicts([ContextBlock(elements=[MarkdownTextObject(text=hint)])])
    return Payload(text=f"Something went wrong: {message}"[:300], blocks=blocks)


def stopped_payload(stopped_by: str | None) -> Payload:
    if stopped_by == "restart":
        return simple(
            ":octagonal_sign: Interrupted because I'm restarting. Reply to continue where I left off."
        )
    who = f" by {user_ref(stopped_by)}" if stopped_by else ""
    return simple(f":octagonal_sign: Stopped{who}. Reply when you want me to continue.")


def compacted_payload(data: dict[str, Any]) -> Payload:
    if data.get("note"):
        return simple(":compression: Nothing to compact yet.")
    old, new = data.get("old_tokens"), data.get("new_tokens")
    if isinstance(old, int) and isinstance(new, int):
        return simple(f":compression: Compacted the conversation: {old:,} → {new:,} tokens.")
    return simple(":compression: Compacted the conversation.")


def undo_payload(data: dict[str, Any]) -> Payload:
    removed = data.get("removed")
    if not removed:
        return simple(":leftwards_arrow_with_hook: Nothing to undo.")
    return simple(f":leftwards_arrow_with_hook: Undid the last turn ({removed} messages removed).")


def session_update_payload(data: dict[str, Any]) -> Payload | None:
    if "model" in data:
        return simple(f":brain: Model for this thread is now {code_inline(data['model'], 120)}.")
    yolo = data.get("yolo")
    if isinstance(yolo, dict):
        if yolo.get("enabled"):
            return simple(
                ":zap: *YOLO on* for this thread: eligible calls run without asking, up to "
                f"{format_usd(yolo.get('cap_usd'))} (remaining {format_usd(yolo.get('remaining_usd'))}). "
                "Scheduled jobs, bash and destructive operations still ask. `yolo off` to stop."
            )
        return simple(":lock: *YOLO off*: every gated call asks for approval again.")
    return None


def status_payload(info: dict[str, Any], *, jobs: list[dict[str, Any]] | None = None) -> Payload:
    """What ``status`` shows: model, activity, queue, approvals, plan, budget, context."""
    busy = "working on a turn" if info.get("busy") else "idle"
    lines = [
        f":bar_chart: *Status* — {busy}",
        f"• Model: {code_inline(info.get('model', '?'), 120)}",
        f"• Turns so far: {info.get('turns', 0)}; queued messages: {info.get('queued', 0)}",
    ]
    pending = info.get("pending_approvals") or []
    if pending:
        tools = ", ".join(sorted({str(p.get("tool")) for p in pending}))
        lines.append(f"• Waiting for approval: {len(pending)} call(s) ({esc(tools)})")
    yolo = info.get("yolo") or {}
    if yolo.get("enabled"):
        lines.append(
            f"• YOLO on: spent {format_usd(yolo.get('spent_usd'))} of "
            f"{format_usd(yolo.get('cap_usd'))}"
        )
    tokens, window = info.get("context_tokens"), info.get("context_window")
    if isinstance(tokens, int) and isinstance(window, int) and window:
        lines.append(f"• Context: {tokens:,} / {window:,} tokens ({100 * tokens // window}%)")
    for job in jobs or []:
        lines.append(
            f"• Job {code_inline(job.get('job_id', '?'), 40)}: {esc(job.get('stage', '?'))}"
        )
    text = "\n".join(lines)
    plan = info.get("plan") or []
    if plan:
        text += "\n*Plan*\n" + plan_lines(plan)
    return simple(text)


HELP_TEXT = """:wave: *How to work with me in this thread*
Just write: every message here goes to me in order (messages sent while I'm busy wait their turn).
Commands (send the word on its own):
• `stop` — stop what I'm doing (also the *Stop* button)
• `status` — model, queue, pending approvals, budget
• `compact` — summarise older context to free space
• `undo` — forget my last turn
• `yolo on [cap]` / `yolo off` — let eligible paid calls run without asking, up to a USD cap
• `model <id>` — switch the model for this thread
• `cancel jobs` — cancel this thread's running jobs
• `help` — this message
Risky steps (GPU jobs, uploads, deletes) wait for an *Approve* click from the requester or a configured approver."""


SLASH_HELP_TEXT = """:wave: *`/ml-intern` — give me an ML task*
`/ml-intern fine-tune distilbert on imdb and push it to the Hub` posts your request in this channel and starts a thread: that thread is our session. (Or just mention me, or DM me.)
Attach data or scripts to a message in the thread (or a DM) and I'll read them: small files whole, big ones as a preview, all kept in my workspace.
In the thread, send any of these on its own: `stop`, `status`, `compact`, `undo`, `yolo on [cap]` / `yolo off`, `model <id>`, `cancel jobs`, `help`.
In a DM, consecutive messages are one conversation; send `new` to start over.
Risky steps (GPU jobs, uploads, deletes) wait for an *Approve* click from the requester or a configured approver."""

DM_NEW_TEXT = ":sparkles: Starting fresh: your next message begins a new conversation."


def help_payload() -> Payload:
    return simple(HELP_TEXT)


def cancel_jobs_payload(results: list[dict[str, Any]]) -> Payload:
    """The answer to ``cancel jobs``: one line per job."""
    if not results:
        return simple(":information_source: No running jobs in this thread.")
    lines = [":black_square_for_stop: *Cancel jobs*"]
    for r in results:
        job = code_inline(r.get("job_id", "?"), 40)
        if r.get("ok"):
            lines.append(f"• {job}: cancellation requested")
        else:
            lines.append(f"• {job}: {esc(r.get('error') or 'failed')}")
    return simple("\n".join(lines))
