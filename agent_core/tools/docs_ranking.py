"""Ranking for ``explore_hf_docs``: plain term matching over a section's pages.

Upstream used a Whoosh index; a section has at most a few hundred pages, so counting query terms
in the title, URL and body (title > URL > body, with a bonus for covering every term) ranks as
well without an index to build or keep fresh. Pure functions, no I/O, so the weights can be
tested and tuned without a network.
"""

from __future__ import annotations

import math
import re

from .docs_index import DocPage

GLIMPSE_CHARS = 200
_STOPWORDS = frozenset(
    "a an and are as at be by can do for from how i in is it of on or the this to use using what "
    "when where which with you your".split()
)


def terms_of(query: str) -> list[str]:
    words = re.findall(r"[a-z0-9][a-z0-9_.+-]*", query.lower())
    out = [w.strip(".") for w in words if w not in _STOPWORDS and len(w.strip(".")) > 1]
    return list(dict.fromkeys(out))


def score_page(page: DocPage, body: str, terms: list[str], phrase: str) -> float:
    """Title hits weigh 3, URL hits 2, body hits 1+log(tf); scaled by the share of terms found."""
    if not terms:
        return 0.0
    title, url, text = page.title.lower(), page.url.lower(), body.lower()
    total = 0.0
    matched = 0
    for term in terms:
        s = 0.0
        if term in title:
            s += 3.0
        if term in url:
            s += 2.0
        tf = text.count(term)
        if tf:
            s += 1.0 + math.log(tf)
        if s:
            matched += 1
        total += s
    if phrase and len(terms) > 1 and phrase in text:
        total += 2.0
    return total * (matched / len(terms))


def glimpse(body: str, terms: list[str]) -> str:
    low = body.lower()
    positions = [p for p in (low.find(t) for t in terms) if p >= 0]
    start = max(0, min(positions) - 60) if positions else 0
    snippet = " ".join(body[start : start + GLIMPSE_CHARS].split())
    return snippet + ("…" if len(body) > start + GLIMPSE_CHARS else "")
