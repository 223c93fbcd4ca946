"""Approval clicks and modals (:class:`bot.approvals.flow.ApprovalFlow`) without Slack: the
approval book is the real one on a SQLite file, the buttons are the ones the card renders, and
the engine, access rules, Web API client and card writer are recording fakes of our own
components.

Payload shapes follow the interaction payload reference: ``block_actions``
(https://api.slack.com/reference/interaction-payloads/block-actions) and ``view_submission``
(https://api.slack.com/reference/interaction-payloads/views#view_submission).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_core.approvals import ApprovalBook, ClaimResult
from agent_core.events import ToolApproval
from agent_core.policy import args_hash
from agent_core.store import Store
from bot.approvals.card import approval_card
from bot.approvals.flow import ApprovalFlow
from bot.approvals.modals import EDIT_VIEW, REASON_BLOCK, REJECT_VIEW, SCRIPT_BLOCK
from bot.llm_warmup import LlmWarmup

SID = "slack:T1:C1:1700000000.000100"
CARD_TS = "1700000005.000500"


def _call(tcid: str) -> dict[str, Any]:
    args = {"operation": "run", "script": "print('train')\n", "hardware_flavor": "a10g-large"}
    return {
        "tool": "hf_jobs",
        "arguments": args,
        "tool_call_id": tcid,
        "args_hash": args_hash("hf_jobs", args),
        "approval_class": "gpu_job",
    }


CALLS = [_call("c1"), _call("c2")]
REQUEST = {"tools": CALLS, "count": 2, "batch_id": "b1", "requester": "U1"}


class Engine:
    """The manager's approval entry point: claims in the real book, records batch runs."""

    def __init__(self, book: ApprovalBook) -> None:
        self.book = book
        self.runs: list[str] = []

    async def resolve_approvals(
        self,
        sid: str,
        decisions: list[ToolApproval],
        *,
        decided_by: str | None,
        complete_batch: bool,
        batch_id: str | None,
    ) -> ClaimResult:
        result = await self.book.claim(
            sid, decisions, decided_by, complete_batch=complete_batch, batch_id=batch_id
        )
        if result.ok and result.batch_complete:
            self.runs.append(str(result.batch_id))
        return result


class Access:
    def __init__(self, deciders: set[str]) -> None:
        self.deciders = deciders

    async def may_decide(self, user: str, *, requester: Any, approval_class: Any) -> bool:
        return user in self.deciders

    def describe_deciders(self, approval_class: Any, requester: Any) -> str:
        return " or ".join(f"<@{d}>" for d in sorted(self.deciders))


class Client:
    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []

    async def views_open(self, *, trigger_id: str, view: Any) -> dict[str, Any]:
        self.opened.append(view.to_dict())
        return {"ok": True}


class Cards:
    def __init__(self) -> None:
        self.redraws: list[tuple[str, str]] = []

    def redraw_card(self, session_id: str, batch_id: str) -> None:
        self.redraws.append((session_id, batch_id))


class Respond:
    def __init__(self) -> None:
        self.said: list[str] = []

    async def __call__(self, **kwargs: Any) -> None:
        assert kwargs["response_type"] == "ephemeral" and kwargs["replace_original"] is False
        self.said.append(kwargs["text"])


class Ack:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@pytest.fixture
async def world(tmp_path):
    store = await Store.open(tmp_path / "state.db")
    book = ApprovalBook(store)
    await book.create_batch(SID, "b1", CALLS, requester="U1", ttl_s=None)
    warmup = LlmWarmup()
    warmup.ready.set()
    engine, client, cards = Engine(book), Client(), Cards()
    flow = ApprovalFlow(
        manager=engine,  # type: ignore[arg-type]
        approvals=book,
        access=Access({"U1", "U3"}),  # type: ignore[arg-type]
        client=client,
        cards=cards,
        warmup=warmup,
    )
    try:
        yield flow, book, engine, client, cards
    finally:
        await store.close()


def button(action_id: str) -> dict[str, Any]:
    """The card's own button (value included), as Slack sends it back."""
    card = approval_card(REQUEST, session_id=SID)
    for block in card.blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return {**element, "type": "button", "block_id": block.get("block_id")}
    raise AssertionError(f"no button {action_id}")


def click(user: str, action: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T1"},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "container": {"type": "message", "message_ts": CARD_TS, "channel_id": "C1"},
        "channel": {"id": "C1"},
        "actions": [action],
    }


def submission(opened: dict[str, Any], block_id: str, value: str | None) -> dict[str, Any]:
    return {
        **opened,
        "state": {"values": {block_id: {"value": {"type": "plain_text_input", "value": value}}}},
    }


async def test_the_requester_approves_one_call_and_the_card_is_redrawn(world) -> None:
    flow, book, engine, _client, cards = world
    respond = Respond()
    action = button("ml_approval:approve:0")
    await flow.on_click(click("U1", action), action, respond)
    call = await book.get(SID, "c1")
    assert call.status == "approved" and call.decided_by == "U1"
    assert (await book.get(SID, "c2")).status == "pending" and engine.runs == []
    assert cards.redraws == [(SID, "b1")] and respond.said == []


async def test_someone_else_in_the_channel_cannot_decide(world) -> None:
    flow, book, _engine, _client, cards = world
    respond = Respond()
    action = button("ml_approval:approve_all")
    await flow.on_click(click("U2", action), action, respond)
    assert "not allowed" in respond.said[0] and "<@U1>" in respond.said[0]
    assert {c.status for c in await book.batch(SID, "b1")} == {"pending"}
    assert cards.redraws == []


async def test_a_second_click_says_who_decided_first(world) -> None:
    flow, _book, _engine, _client, _cards = world
    action = button("ml_approval:approve:0")
    await flow.on_click(click("U1", action), action, Respond())
    late = Respond()
    await flow.on_click(click("U3", action), action, late)
    assert late.said == ["Already approved by <@U1>."]


async def test_approve_all_runs_the_batch(world) -> None:
    flow, book, engine, _client, cards = world
    action = button("ml_approval:approve_all")
    await flow.on_click(click("U3", action), action, Respond())
    assert {c.status for c in await book.batch(SID, "b1")} == {"approved"}
    assert engine.runs == ["b1"] and cards.redraws == [(SID, "b1")]


async def test_a_forged_button_for_another_batch_does_nothing(world) -> None:
    flow, book, _engine, _client, _cards = world
    action = button("ml_approval:approve:0")
    value = json.loads(action["value"])
    forged = {**action, "value": json.dumps({**value, "b": "other-batch"})}
    respond = Respond()
    await flow.on_click(click("U1", forged), forged, respond)
    assert "no longer known" in respond.said[0]
    assert (await book.get(SID, "c1")).status == "pending"


async def test_reject_with_a_reason_through_the_modal(world) -> None:
    flow, book, _engine, client, cards = world
    action = button("ml_approval:reject:1")
    await flow.on_click(click("U1", action), action, Respond())
    (opened,) = client.opened
    assert opened["callback_id"] == REJECT_VIEW
    ack = Ack()
    body = {"type": "view_submission", "user": {"id": "U1"}}
    view = submission(opened, REASON_BLOCK, "use a smaller GPU")
    await flow.on_reject_submit(ack, body, view)
    assert ack.calls == [{}]
    call = await book.get(SID, "c2")
    assert call.status == "rejected" and call.feedback == "use a smaller GPU"
    assert cards.redraws == [(SID, "b1")]


async def test_an_emptied_script_is_refused_inside_the_modal(world) -> None:
    flow, book, _engine, client, _cards = world
    action = button("ml_approval:edit:0")
    await flow.on_click(click("U1", action), action, Respond())
    (opened,) = client.opened
    assert opened["callback_id"] == EDIT_VIEW
    ack = Ack()
    await flow.on_edit_submit(ack, {"user": {"id": "U1"}}, submission(opened, SCRIPT_BLOCK, "  "))
    assert ack.calls[0]["response_action"] == "errors" and SCRIPT_BLOCK in ack.calls[0]["errors"]
    assert (await book.get(SID, "c1")).status == "pending"


async def test_a_modal_submitted_by_someone_not_allowed_is_refused_in_the_modal(world) -> None:
    flow, book, _engine, client, _cards = world
    action = button("ml_approval:reject:0")
    await flow.on_click(click("U1", action), action, Respond())
    ack = Ack()
    body = {"user": {"id": "U2"}}
    await flow.on_reject_submit(ack, body, submission(client.opened[0], REASON_BLOCK, None))
    assert ack.calls[0]["errors"] == {REASON_BLOCK: "You're not allowed to decide this."}
    assert (await book.get(SID, "c1")).status == "pending"
