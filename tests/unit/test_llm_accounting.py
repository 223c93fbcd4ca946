"""What the model cost, where people see it: status, the finished-task notification, the YOLO cap."""

from __future__ import annotations

from agent_core import policy
from agent_core.events import Event
from agent_core.llm import describe_llm_usage, record_llm_call
from bot.conversation.notices import status_payload
from gateways.compose import compose
from tests.engine_harness import make_config

CALL = {"prompt_tokens": 1200, "completion_tokens": 80, "cache_read_tokens": 1000,
        "cache_creation_tokens": 100, "cost_usd": 0.0123}  # fmt: skip


def test_calls_fold_into_session_totals_and_count_against_the_yolo_cap() -> None:
    config = make_config()
    state: dict = {}
    record_llm_call(state, config, CALL)  # YOLO off: totals only
    assert state["llm_usage"]["cost_usd"] == 0.0123
    assert policy.yolo_state(state, config)["spent_usd"] == 0.0
    policy.yolo_state(state, config)["enabled"] = True
    record_llm_call(state, config, CALL)
    record_llm_call(state, config, {**CALL, "cost_usd": None})
    assert state["llm_usage"]["calls"] == 3 and state["llm_usage"]["unpriced_calls"] == 1
    assert policy.yolo_state(state, config)["spent_usd"] == 0.0123
    assert policy.remaining_budget(state, config) == config.yolo_cost_cap_usd - 0.0123


def test_one_line_for_people() -> None:
    state: dict = {}
    record_llm_call(state, make_config(), CALL)
    line = describe_llm_usage(state["llm_usage"])
    assert line == "$0.01 over 1 model call(s), 1,280 tokens (1,000 read from the prompt cache)"
    assert describe_llm_usage({}) is None


def test_status_and_finished_task_notification_show_model_spend() -> None:
    usage = {"calls": 2, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 1.5}
    text = str(status_payload({"model": "m", "llm_usage": usage}))
    assert "Model spend: $1.50 over 2 model call(s)" in text
    note = compose(
        Event("s", 3, "turn_complete", {"final_response": "done", "llm_usage": usage}), {}
    )
    assert note is not None
    assert [(f.label, f.value) for f in note.fields] == [
        ("Model spend", "$1.50 over 2 model call(s), 15 tokens")
    ]
    assert note.data["llm_usage"]["cost_usd"] == 1.5


async def test_requester_totals_add_up_across_concurrent_threads(tmp_path) -> None:
    import asyncio

    from agent_core.llm.pricing import USER_USAGE_NAMESPACE, record_user_usage
    from agent_core.store import Store

    store = await Store.open(tmp_path / "db")
    try:
        lock = asyncio.Lock()
        await asyncio.gather(*(record_user_usage(store, lock, "U1", CALL) for _ in range(5)))
        await record_user_usage(store, lock, None, CALL)  # no requester: nothing recorded
        totals = await store.kv_get(USER_USAGE_NAMESPACE, "U1")
        assert totals["calls"] == 5 and totals["cost_usd"] == round(5 * 0.0123, 8)
    finally:
        await store.close()
    text = str(status_payload({"model": "m", "llm_usage": {"calls": 1, "cost_usd": 0.01},
                               "requester_llm_usage": totals}))  # fmt: skip
    assert "Requester's model spend in all threads: $0.06 over 5 model call(s)" in text
