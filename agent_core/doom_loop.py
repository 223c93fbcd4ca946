"""Noticing when the agent is going round in circles.

Two rules over the tool calls in the recent history (upstream's): three identical consecutive
calls with identical results, or a cycle of 2–5 calls repeated at the tail. The result hash is
part of a call's signature, so polling a job whose log keeps changing is not a loop. Unlike
upstream, a detected streak fires once: the caller remembers the signature it warned about.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

WINDOW_MESSAGES = 30
IDENTICAL_THRESHOLD = 3
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
