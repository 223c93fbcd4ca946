"""The renderer's event handlers, one event at a time, without Slack or sockets.

Each handler gets a :class:`~bot.renderer.context.RenderContext` whose output is a recording
fake of our own :class:`~bot.renderer.output.ThreadOutput` (the ledger-backed writer is tested
end to end in ``tests/e2e``); the approval handlers read a real approval book on a SQLite file.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agent_core.approvals import ApprovalBook
from agent_core.events import STOPPED_BY_SHUTDOWN, Event, EventType, ToolApproval
from agent_core.policy import args_hash
from agent_core.store import Store
from bot.approvals import rendering as approvals_rendering
from bot.conversation import rendering as conversation
from bot.jobs import rendering as jobs
from bot.renderer.context import RenderContext
from bot.renderer.handlers import HANDLERS, IGNORED
from bot.renderer.state import DONE, STOPPED, WAITING
from bot.settings import parse_slack_settings
from bot.slack.format import Payload
from bot.slack.sender import HIGH
from bot.slack.threads import ThreadRecord

SID = "slack:T1:C1:1.000"
NOW = 10_000.0


class RecordingOutput:
    """Stands in for ThreadOutput: records what a handler asked to write."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, str, Payload, int]] = []
        self.uploads: list[tuple[int, str, str]] = []
        self.edits: list[tuple[str, Payload, bool]] = []
        self.reactions: list[tuple[str, str, str]] = []
        self.statuses: list[str] = []

    async def post_once(
        self, rec: ThreadRecord, seq: int, part: str, payload: Payload, *, priority: int = 1
    ) -> str:
        self.posts.append((seq, part, payload, priority))
        return f"{seq}.{len(self.posts)}"

    async def upload_once(
        self, rec: ThreadRecord, seq: int, part: str, filename: str, content: str, title: str
    ) -> None:
        self.uploads.append((seq, part, filename))

    def edit(
        self, rec: ThreadRecord, ts: str, payload: Payload, *, final: bool = False
    ) -> asyncio.Future[Any]:
        self.edits.append((ts, payload, final))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    def react(self, rec: ThreadRecord, ts: str | None, *, add: str = "", remove: str = "") -> None:
        self.reactions.append((str(ts), add, remove))

    def set_status(self, rec: ThreadRecord, status: str) -> None:
        self.statuses.append(status)

    def part(self, part: str) -> Payload:
        return next(p for _, name, p, _ in self.posts if name == part)


class SavedThreads:
    def __init__(self) -> None:
        self.saved: list[int] = []

    async def save(self, rec: ThreadRecord) -> None:
        self.saved.append(rec.rendered_seq)


def _ctx(store: Any = None, approvals: Any = None, **slack: Any) -> RenderContext:
    ticks: list[int] = []
    ctx = RenderContext(
        store=store,
        approvals=approvals,
        settings=parse_slack_settings(slack),
        threads=SavedThreads(),  # type: ignore[arg-type]
        ledger=None,  # type: ignore[arg-type]
        out=RecordingOutput(),  # type: ignore[arg-type]
        clock=lambda: NOW,
        schedule_tick=lambda rec, turn: ticks.append(turn.seq),
    )
    ctx.ticks = ticks  # type: ignore[attr-defined]
    return ctx


def _rec() -> ThreadRecord:
    return ThreadRecord(session_id=SID, team="T1", channel="C1", thread_ts="1.000")


def _ev(seq: int, type_: str, ts: float = NOW, **data: Any) -> Event:
    return Event(SID, seq, type_, data, ts)


def _text(payload: Payload) -> str:
    return payload.text + json.dumps(payload.blocks)


# ------------------------------------------------------------------ the table
def test_every_engine_event_is_rendered_or_explicitly_ignored() -> None:
    assert set(HANDLERS) | IGNORED == set(EventType)
    assert not set(HANDLERS) & IGNORED


# ------------------------------------------------------------------ a turn
async def test_a_quick_answer_gets_no_progress_message() -> None:
    ctx, rec = _ctx(), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    assert await conversation.on_processing(
        ctx, rec, _ev(1, "processing", meta={"slack_ts": "2.0"})
    )
    assert ctx.ticks == [1]  # type: ignore[attr-defined]
    # no status line before the progress delay: the received reaction says enough (issue 18)
    assert out.statuses == [] and out.posts == []
    await conversation.on_turn_complete(ctx, rec, _ev(2, "turn_complete", final_response="Hi!"))
    (seq, part, payload, priority) = out.posts[0]
    assert (seq, part, priority) == (2, "answer:0", HIGH) and "Hi!" in _text(payload)
    assert out.reactions == [("2.0", "white_check_mark", "")]  # the received mark stays
    assert out.statuses == []
    assert out.edits == []  # there was no progress message to close
    assert rec.state.turn is not None and rec.state.turn.status == DONE


async def test_a_turn_outliving_the_progress_delay_gets_status_and_progress_at_the_tick() -> None:
    from bot.conversation.turns import on_tick

    ctx, rec = _ctx(), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    await conversation.on_processing(ctx, rec, _ev(1, "processing", meta={"slack_ts": "2.0"}))
    assert out.statuses == [] and out.posts == []
    assert await on_tick(ctx, rec, 1)
    assert out.statuses == ["is working on it…"]
    assert [part for _, part, _, _ in out.posts] == ["progress"]
    assert not await on_tick(ctx, rec, 0)  # a stale tick of an earlier turn does nothing


async def test_tool_calls_fill_the_progress_message_and_the_end_closes_it() -> None:
    ctx, rec = _ctx(progress_delay_s=0), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    await conversation.on_processing(ctx, rec, _ev(1, "processing", meta={"slack_ts": "2.0"}))
    assert [p[1] for p in out.posts] == ["progress"]
    call = {"tool": "hf_inspect_dataset", "arguments": {"dataset": "imdb"}, "tool_call_id": "a"}
    await conversation.on_tool_call(ctx, rec, _ev(2, "tool_call", **call))
    await conversation.on_tool_output(
        ctx, rec, _ev(3, "tool_output", tool_call_id="a", success=True)
    )
    assert "imdb" in _text(out.edits[-1][1]) and out.edits[-1][2] is False
    assert rec.state.turn is not None and rec.state.turn.tools[0].state == "ok"
    await conversation.on_turn_complete(ctx, rec, _ev(4, "turn_complete", final_response="ok"))
    ts, final, is_final = out.edits[-1]
    assert ts == "1.1"  # the progress message posted first
    assert is_final and "Done" in _text(final)


async def test_replayed_events_set_no_status_and_no_timer() -> None:
    ctx, rec = _ctx(), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    await conversation.on_processing(ctx, rec, _ev(1, "processing", ts=NOW - 3_600))
    assert out.statuses == [] and ctx.ticks == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("stopped_by", "expected"),
    [("U2", "<@U2>"), (STOPPED_BY_SHUTDOWN, "restarting"), (None, "Stopped.")],
)
async def test_stop_names_who_stopped_it(stopped_by: str | None, expected: str) -> None:
    ctx, rec = _ctx(), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    await conversation.on_processing(ctx, rec, _ev(1, "processing", meta={"slack_ts": "2.0"}))
    await conversation.on_interrupted(ctx, rec, _ev(2, "interrupted", stopped_by=stopped_by))
    assert expected in _text(out.part("stopped"))
    assert rec.state.turn is not None and rec.state.turn.status == STOPPED
    assert out.reactions[-1] == ("2.0", "octagonal_sign", "")


async def test_a_stop_after_progress_is_shown_on_the_progress_message() -> None:
    ctx, rec = _ctx(progress_delay_s=0), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    await conversation.on_processing(ctx, rec, _ev(1, "processing", meta={"slack_ts": "2.0"}))
    await conversation.on_interrupted(ctx, rec, _ev(2, "interrupted", stopped_by="U9"))
    assert [p[1] for p in out.posts] == ["progress"]  # no second "stopped" message
    assert "<@U9>" in _text(out.edits[-1][1]) and out.edits[-1][2]


async def test_an_error_ends_the_turn_and_is_posted() -> None:
    ctx, rec = _ctx(), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    await conversation.on_processing(ctx, rec, _ev(1, "processing", meta={"slack_ts": "2.0"}))
    await conversation.on_error(ctx, rec, _ev(2, "error", error="model <overloaded>", kind="llm"))
    assert "model &lt;overloaded&gt;" in _text(out.part("error"))
    assert out.reactions[-1] == ("2.0", "warning", "")


# ------------------------------------------------------------------ jobs
async def test_a_job_card_is_posted_once_edited_then_finished_with_a_mention() -> None:
    ctx, rec = _ctx(), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    started = {"job_id": "j1", "url": "https://hf.co/jobs/a/j1", "flavor": "a10g-small"}
    assert await jobs.on_job_event(
        ctx, rec, _ev(5, EventType.JOB_STARTED, requester="U1", **started)
    )
    card = out.part("job:j1")
    assert "ml_job:cancel" in _text(card) and "ml_job:logs" in _text(card)
    assert not await jobs.on_job_event(
        ctx, rec, _ev(6, EventType.JOB_PROGRESS, job_id="j1", stage="RUNNING")
    )
    assert len(out.posts) == 1 and out.edits[-1][2] is False
    await jobs.on_job_event(
        ctx, rec, _ev(7, EventType.JOB_FINISHED, job_id="j1", stage="COMPLETED", wall_time_s=65)
    )
    assert out.edits[-1][2] is True and "ml_job:cancel" not in _text(out.edits[-1][1])
    done = out.part("job_done:j1")
    assert "<@U1>" in _text(done) and "completed" in _text(done)


# ------------------------------------------------------------------ approvals
def _gpu_call(tcid: str, script: str = "print('train')\n") -> dict[str, Any]:
    args = {"operation": "run", "script": script, "hardware_flavor": "a10g-large"}
    return {
        "tool": "hf_jobs",
        "arguments": args,
        "tool_call_id": tcid,
        "args_hash": args_hash("hf_jobs", args),
        "approval_class": "gpu_job",
    }


@pytest.fixture
async def book(tmp_path):
    store = await Store.open(tmp_path / "state.db")
    try:
        yield store, ApprovalBook(store)
    finally:
        await store.close()


async def test_the_card_is_posted_then_redrawn_with_decisions(book) -> None:
    store, approvals = book
    long_script = "".join(f"print({i})\n" for i in range(200))
    calls = [_gpu_call("c1"), _gpu_call("c2", long_script)]
    await approvals.create_batch(SID, "b1", calls, requester="U1", ttl_s=None)
    request = {"tools": calls, "count": 2, "batch_id": "b1", "requester": "U1"}
    await store.append_event(SID, EventType.APPROVAL_REQUIRED, request)
    ctx, rec = _ctx(store, approvals), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    await conversation.on_processing(ctx, rec, _ev(1, "processing", meta={"slack_ts": "2.0"}))
    assert await approvals_rendering.on_approval_required(
        ctx, rec, _ev(2, EventType.APPROVAL_REQUIRED, **request)
    )
    card = out.part("card")
    assert "ml_approval:approve:0" in _text(card)
    assert rec.state.cards["b1"]["ts"] and ctx.threads.saved  # type: ignore[attr-defined]
    assert [u[1] for u in out.uploads] == ["script:c2"]  # the long script as a file
    assert rec.state.turn is not None and rec.state.turn.status == WAITING
    # a click decided c1: the one writer redraws the card from the stored decision
    await approvals.claim(
        SID, [ToolApproval(tool_call_id="c1", approved=True)], "U1", complete_batch=False
    )
    await approvals_rendering.redraw_card(ctx, rec, "b1")
    ts, redrawn, final = out.edits[-1]
    assert ts == rec.state.cards["b1"]["ts"] and final
    assert "<@U1>" in _text(redrawn) and "ml_approval:approve:0" not in _text(redrawn)


async def test_approved_calls_continue_the_turn_in_a_progress_message(book) -> None:
    store, approvals = book
    ctx, rec = _ctx(store, approvals), _rec()
    out: RecordingOutput = ctx.out  # type: ignore[assignment]
    decisions = [{"tool_call_id": "c1", "tool": "hf_jobs", "status": "approved"}]
    await approvals_rendering.on_approval_resolved(
        ctx,
        rec,
        _ev(3, EventType.APPROVAL_RESOLVED, batch_id="b9", outcome="decided", decisions=decisions),
    )
    assert [p[1] for p in out.posts] == ["progress"]  # the unknown card is left alone
    assert rec.state.turn is not None and rec.state.turn.tools[0].state == "running"
