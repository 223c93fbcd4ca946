"""The three situations in which the loop talks to the model instead of the user.

* **Output cut off**: the reply hit the output-token limit in the middle of its tool calls.
  Their arguments are incomplete, so none is run; the model is told which calls were lost and
  to make smaller ones.
* **Continuation guard**: the model answered in plain text while its plan still has open
  items. Models often "narrate" the next step and stop; they are asked (at most
  ``CONTINUATION_GUARD_LIMIT`` times in a row) to continue or to update the plan.
* **Step limit**: the turn ran ``max_iterations`` LLM calls. The user gets an answer saying so
  (rather than silence), and can reply ``continue``.

Each nudge is a synthetic user message (``_synthetic: True``): undo and compaction know it is
not something a person wrote. Each comes with a short ``tool_log`` line for the thread.
"""

from __future__ import annotations

from typing import Any

CONTINUATION_GUARD_LIMIT = 2
PLAN_ITEMS_LISTED = 4
CUT_OFF_NOTE = "\n\n_(The answer was cut off by the model's output limit.)_"


def synthetic(content: str) -> dict[str, Any]:
    """A user-role message the engine wrote (kept apart from what people wrote)."""
    return {"role": "user", "_synthetic": True, "content": content}


def lost_tool_calls(names: list[str]) -> tuple[dict[str, Any], str]:
    """Nudge and log line for tool calls lost to the output limit."""
    listed = ", ".join(names)
    nudge = synthetic(
        "[SYSTEM: Your previous response was cut off by the output token "
        f"limit, so these tool calls were lost: [{listed}]. Make smaller "
        "calls (split large files into several writes or edits).]"
    )
    return nudge, f"Output truncated; dropped tool calls: {listed}"


def unfinished_plan(items: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Nudge and log line for a text-only answer while plan items are still open."""
    listing = "; ".join(
        f"{t['id']}. {t['content']} [{t['status']}]" for t in items[:PLAN_ITEMS_LISTED]
    )
    more = (
        f" ... and {len(items) - PLAN_ITEMS_LISTED} more" if len(items) > PLAN_ITEMS_LISTED else ""
    )
    nudge = synthetic(
        "[SYSTEM: CONTINUATION GUARD] Your plan still has unfinished "
        f"items: {listing}{more}. Continue working on them with tools, "
        "or update the plan with plan_tool if they are done or no "
        "longer needed."
    )
    return nudge, "Plan unfinished after a text-only response; asking the agent to continue."


def step_limit_answer(limit: int) -> tuple[str, str]:
    """The turn's final answer and log line when it used all of its ``max_iterations``."""
    answer = (
        f"I stopped after {limit} steps without finishing. Reply `continue` to let me "
        "keep going, or tell me what to change."
    )
    return answer, f"Reached max_iterations ({limit})."
