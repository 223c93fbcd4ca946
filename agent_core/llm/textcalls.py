"""Tool calls that open models write as text instead of the API's structured field.

vLLM/TGI/Ollama deployments without the right tool parser hand back the model's raw markup as the
answer. Three formats are common and are parsed here into ordinary calls:

* Hermes / Qwen: ``<tool_call>{"name": "read", "arguments": {...}}</tool_call>``
* Kimi K2: ``<|tool_calls_section_begin|><|tool_call_begin|>functions.read:0
  <|tool_call_argument_begin|>{...}<|tool_call_end|><|tool_calls_section_end|>``
* Llama / Qwen3-Coder: ``<function=read>{...}</function>`` or
  ``<function=read><parameter=path>a.txt</parameter></function>``

:class:`MarkupFilter` keeps the markup out of what is streamed to people while it arrives.
"""

from __future__ import annotations

import json
import re
from typing import Any

MARKERS = ("<tool_call>", "<|tool_calls_section_begin|>", "<|tool_call_begin|>", "<function=")

_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_KIMI_CALL = re.compile(
    r"<\|tool_call_begin\|>\s*(?P<name>[^<\s]+)\s*<\|tool_call_argument_begin\|>\s*"
    r"(?P<args>.*?)\s*(?:<\|tool_call_end\|>|$)",
    re.DOTALL,
)
_FUNCTION = re.compile(
    r"<function=(?P<name>[^>\s]+)>\s*(?P<body>.*?)\s*(?:</function>|$)", re.DOTALL
)
_PARAMETER = re.compile(r"<parameter=(?P<key>[^>\s]+)>\s*(?P<value>.*?)\s*</parameter>", re.DOTALL)


def has_markup(text: str) -> bool:
    return any(m in text for m in MARKERS)


def parse_text_tool_calls(text: str) -> tuple[str, list[dict[str, str]]]:
    """``(text without the markup, calls)``; calls are ``{"id", "name", "arguments"}``."""
    if not has_markup(text):
        return text, []
    calls: list[dict[str, str]] = []
    start = min(i for i in (text.find(m) for m in MARKERS) if i >= 0)
    markup = text[start:]
    if "<|tool_call_begin|>" in markup:
        for m in _KIMI_CALL.finditer(markup):
            raw_name = m.group("name")
            # "functions.read:0" → name "read"; the whole string is the model's call id
            name = raw_name.split(".", 1)[-1].rsplit(":", 1)[0]
            calls.append({"id": raw_name, "name": name, "arguments": _json_text(m.group("args"))})
    elif "<tool_call>" in markup:
        for m in _HERMES.finditer(markup):
            calls.extend(_hermes_call(m.group(1)))
    else:
        for m in _FUNCTION.finditer(markup):
            calls.append(
                {"id": "", "name": m.group("name"), "arguments": _function_body(m.group("body"))}
            )
    return text[:start].rstrip(), calls


def _hermes_call(body: str) -> list[dict[str, str]]:
    body = body.strip()
    if body.startswith("<function="):
        m = _FUNCTION.match(body)
        return (
            [{"id": "", "name": m.group("name"), "arguments": _function_body(m.group("body"))}]
            if m
            else []
        )
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        # Not parseable: keep it as a call whose arguments are malformed, so the loop answers it
        # with the malformed-arguments error instead of silently ending the turn.
        name = re.search(r'"name"\s*:\s*"([^"]*)"', body)
        return [{"id": "", "name": name.group(1) if name else "", "arguments": body}]
    if not isinstance(obj, dict):
        return []
    args: Any = obj.get("arguments", obj.get("parameters", {}))
    return [
        {
            "id": str(obj.get("id") or ""),
            "name": str(obj.get("name") or ""),
            "arguments": _json_text(args),
        }
    ]


def _function_body(body: str) -> str:
    params = _PARAMETER.findall(body)
    if params:
        return json.dumps({k: _maybe_json(v) for k, v in params})
    return _json_text(body)


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _json_text(args: Any) -> str:
    if isinstance(args, str):
        return args.strip() or "{}"
    return json.dumps(args)


class MarkupFilter:
    """Pass streamed text through until tool-call markup starts; hold back a possible partial
    marker at the end of a chunk so ``<tool_`` + ``call>`` never leaks half a tag."""

    def __init__(self) -> None:
        self._pending = ""
        self.suppressing = False

    def feed(self, text: str) -> str:
        if self.suppressing:
            return ""
        buf = self._pending + text
        hits = [i for i in (buf.find(m) for m in MARKERS) if i >= 0]
        if hits:
            self.suppressing = True
            self._pending = ""
            return buf[: min(hits)]
        keep = 0
        for marker in MARKERS:
            for n in range(min(len(marker) - 1, len(buf)), 0, -1):
                if buf.endswith(marker[:n]):
                    keep = max(keep, n)
                    break
        self._pending = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        out, self._pending = ("" if self.suppressing else self._pending), ""
        return out
