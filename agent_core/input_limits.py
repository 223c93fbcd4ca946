"""Bounds on what a person's message may put in front of the model.

Why: a pasted 130,000-character log went to the LLM whole: it filled the context window, cost
real money on every later call of the thread, and pushed the conversation into compaction at
once. The model gets the start and the end of an over-long message (where the question and the
final error usually are) and a note saying what was cut, so it can ask for a file instead.
"""

from __future__ import annotations

HEAD_SHARE = 0.7


def clip_for_model(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and tail around a note."""
    if len(text) <= limit:
        return text
    note = (
        f"\n\n[… {{cut:,}} characters cut from the middle of this {len(text):,}-character "
        "message to fit the model; ask for the full text as a file if it matters …]\n\n"
    )
    room = max(0, limit - len(note.format(cut=len(text))))
    head = int(room * HEAD_SHARE)
    tail = room - head
    cut = len(text) - head - tail
    return text[:head] + note.format(cut=cut) + (text[-tail:] if tail else "")
