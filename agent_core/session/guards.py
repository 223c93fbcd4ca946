"""Noticing when the agent is going round in circles, and telling it once.

The repetition guard (upstream's doom-loop check) has two rules over the tool calls in the
recent history: three identical consecutive calls with identical results, or a cycle of 2–5
calls repeated at the tail. The result hash is part of a call's signature, so polling a job
whose log keeps changing is not a loop. The malformed-arguments guard notices a model that keeps
sending the same broken JSON (typically a file too large for one call).

Unlike upstream, a detected streak fires once: the session state remembers what it warned
about, so a model that keeps going is not buried under identical warnings. The research
sub-agent runs the same repetition check on its own messages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

WINDOW_MESSAGES = 30
IDENTICAL_THRESHOLD = 3
MALFORMED_STREAK = 2
MALFORMED_RESULT = (
    "ERROR: Tool call to '{name}' had malformed JSON arguments and was NOT executed. "
    "Retry with valid JSON (and smaller content — for 'write', split into several 'edit' calls)."
)
Signature = tuple[str, str, str | None]


def normalize_args(raw: Any) -> str:
    if isinstance(raw, dict):
        return json.dumps(raw, sort_keys=True, separators=(",", ":"))
    if not isinstance(raw, str):
        return str(raw)
    if not raw.strip():
        return ""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except (json.JSONDecodeError, TypeError, ValueError):
        return raw


def _h(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:12]


def extract_signatures(messages: list[dict[str, Any]]) -> list[Signature]:
    window = messages[-WINDOW_MESSAGES:]
    results: dict[str, str] = {}
    for m in window:
        if m.get("role") == "tool" and m.get("tool_call_id"):
            results[m["tool_call_id"]] = str(m.get("content") or "")
    sigs: list[Signature] = []
    for m in window:
        if m.get("role") != "assistant" or not m.get("tool_calls"):
            continue
        for tc in m["tool_calls"]:
            fn = tc.get("function") or {}
            result = results.get(tc.get("id", ""))
            sigs.append(
                (
                    str(fn.get("name") or ""),
                    _h(normalize_args(fn.get("arguments"))),
                    _h(result) if result is not None else None,
                )
            )
    return sigs


def detect_identical(sigs: list[Signature]) -> Signature | None:
    run = 1
    for i in range(1, len(sigs)):
        run = run + 1 if sigs[i] == sigs[i - 1] else 1
        if run >= IDENTICAL_THRESHOLD:
            return sigs[i]
    return None


def detect_cycle(sigs: list[Signature]) -> list[Signature] | None:
    for length in range(2, 6):
        if len(sigs) < length * 2:
            break
        tail = sigs[-length:]
        if len(set(tail)) == 1:
            continue  # that is the identical rule's business
        if sigs[-2 * length : -length] == tail:
            return tail
    return None


def check_for_doom_loop(messages: list[dict[str, Any]]) -> tuple[str, str] | None:
    """Return (streak key, corrective prompt) or None."""
    sigs = extract_signatures(messages)
    if len(sigs) < IDENTICAL_THRESHOLD:
        return None
    same = detect_identical(sigs)
    if same is not None:
        key = "identical:" + "|".join(str(p) for p in same)
        return key, (
            f"[SYSTEM: REPETITION GUARD] You have called '{same[0]}' with the same arguments "
            "several times in a row and got the same result each time. STOP repeating it. "
            "Step back, explain what is blocking you, and try a fundamentally different approach "
            "— or ask the user."
        )
    cycle = detect_cycle(sigs)
    if cycle is not None:
        names = " → ".join(s[0] for s in cycle)
        key = "cycle:" + "|".join(str(p) for s in cycle for p in s)
        return key, (
            f"[SYSTEM: REPETITION GUARD] You are stuck in a repeating cycle of tool calls: "
            f"[{names}]. Break the cycle: change strategy, or summarise what you learned and ask "
            "the user how to proceed."
        )
    return None


def malformed_result(tool: str) -> str:
    """The tool result recorded for a call whose arguments were not valid JSON."""
    return MALFORMED_RESULT.format(name=tool)


def repeated_malformed(history: list[dict[str, Any]]) -> str | None:
    """The tool whose last ``MALFORMED_STREAK`` results were all "malformed JSON" errors."""
    streak, name = 0, None
    for m in reversed(history):
        if m.get("role") == "assistant":
            continue
        if m.get("role") != "tool":
            break
        content = str(m.get("content") or "")
        if not content.startswith("ERROR: Tool call to '") or "malformed JSON" not in content:
            break
        tool = m.get("name")
        if name is None:
            name = tool
        elif tool != name:
            break
        streak += 1
        if streak >= MALFORMED_STREAK:
            return name
    return None


def malformed_nudge(tool: str) -> str:
    return (
        f"[SYSTEM: Repeated malformed tool arguments detected for '{tool}'. "
        "Stop retrying the same call shape: use a different strategy, e.g. write "
        "the file in several smaller pieces."
    )


def apply_guards(
    history: list[dict[str, Any]],
    state: dict[str, Any],
    add_message: Callable[[dict[str, Any]], None],
) -> None:
    """Add each guard's nudge before the next LLM call, at most once per streak.

    ``add_message`` appends to ``history``: a repetition nudge therefore ends the tool-result
    tail that the malformed guard reads, and both never fire on the same step.
    """
    found = check_for_doom_loop(history)
    if found is not None:
        key, prompt = found
        if state.get("doom_fired") != key:
            state["doom_fired"] = key
            add_message({"role": "user", "content": prompt, "_synthetic": True})
    malformed = repeated_malformed(history)
    if malformed and state.get("malformed_fired") != len(history):
        add_message({"role": "user", "_synthetic": True, "content": malformed_nudge(malformed)})
        state["malformed_fired"] = len(history)
