"""Splitting long Markdown for Slack: safe boundaries, balanced code fences, limits."""

from __future__ import annotations

import re

import pytest

from bot.slack.split import clip, is_balanced, preview, split_markdown


def _code_lines(text: str) -> list[str]:
    """Lines inside code fences (fence lines removed), to check nothing is lost."""
    out, inside = [], False
    for line in text.splitlines():
        if re.match(r"^ {0,3}```", line):
            inside = not inside
            continue
        if inside:
            out.append(line)
    return out


def test_short_text_is_one_piece_unchanged() -> None:
    text = "Hello **world**\n\n```py\nprint(1)\n```"
    assert split_markdown(text, 100) == [text]


def test_empty_text_gives_no_pieces() -> None:
    assert split_markdown("   \n", 100) == []


def test_paragraphs_split_between_paragraphs() -> None:
    paras = [f"Paragraph {i} " + "word " * 30 for i in range(10)]
    text = "\n\n".join(p.strip() for p in paras)
    pieces = split_markdown(text, 400)
    assert len(pieces) > 1
    assert all(len(p) <= 400 for p in pieces)
    for piece in pieces:  # every piece starts at a paragraph start
        assert piece.startswith("Paragraph")
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_code_fence_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"x_{i} = {i}  # some comment to make it longer" for i in range(60))
    text = "Intro line.\n\n```python\n" + code + "\n```\n\nOutro."
    pieces = split_markdown(text, 500)
    assert len(pieces) > 2
    for piece in pieces:
        assert len(piece) <= 500
        assert is_balanced(piece), piece
    code_pieces = [p for p in pieces if "```" in p]
    assert all("```python" in p for p in code_pieces)
    assert _code_lines("\n".join(pieces)) == code.splitlines()


def test_very_long_line_is_cut_at_spaces() -> None:
    text = "word " * 500
    pieces = split_markdown(text, 300)
    assert all(len(p) <= 300 for p in pieces)
    assert all(not p.startswith(" ") for p in pieces)
    assert "".join(p.replace(" ", "") for p in pieces) == text.replace(" ", "")


def test_long_line_inside_code_is_cut_without_breaking_the_fence() -> None:
    text = "```\n" + "a" * 1200 + "\n```"
    pieces = split_markdown(text, 300)
    assert all(len(p) <= 300 and is_balanced(p) for p in pieces)
    assert "".join(_code_lines("\n".join(pieces))) == "a" * 1200


def test_dangling_fence_is_closed() -> None:
    text = "Look:\n```bash\nls -la\n" + "echo hi\n" * 100
    pieces = split_markdown(text, 200)
    assert all(is_balanced(p) for p in pieces)


def test_tilde_fences_and_longer_fences() -> None:
    text = "~~~\n" + "line\n" * 100 + "~~~\n\nafter"
    pieces = split_markdown(text, 120)
    assert all(is_balanced(p) for p in pieces)
    assert pieces[-1].endswith("after")


def test_preview_and_clip() -> None:
    head, cut = preview("a\n\n" + "b " * 1000, 100)
    assert cut and len(head) <= 100
    assert preview("short", 100) == ("short", False)
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 4) == "abc"


def test_limit_must_be_sensible() -> None:
    with pytest.raises(ValueError):
        split_markdown("x", 5)
