"""The playground's *demo model*: a scripted OpenAI-compatible ``/v1/chat/completions``.

Used only when no model provider is configured, and always labelled as a simulation on the
page. It is a script, not a language model: it reads the conversation the engine sends (the
real request, with the real tool list) and answers with the next step of one fixed story —
research → plan → a GPU training job that needs approval → "submitted, I'll tell you when it
finishes". The engine, the approval gate, the job tools and the Slack rendering it drives are
all the real ones; only the words are canned.

It speaks the wire format litellm expects (JSON, or SSE chunks when ``stream`` is true, with
tool-call arguments streamed in fragments and usage when ``stream_options.include_usage``).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

MODEL_ID = "ml-intern-demo"
API_KEY = "sk-playground-demo"  # not a secret: the demo model is local and scripted
THINK_S = 0.4  # how long the demo model "thinks" per call
TRAIN_WORDS = ("train", "fine-tune", "finetune", "fine tune", "sft", "run a job", "job")

DEMO_SCRIPT = '''# /// script
# dependencies = ["transformers", "datasets", "accelerate", "evaluate"]
# ///
"""Fine-tune distilbert-base-uncased on IMDB (sentiment) and push it to the Hub.
Written by the playground's demo model; on the simulated Hub nothing actually runs."""
from datasets import load_dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, Trainer,
                          TrainingArguments)

model_id = "distilbert-base-uncased"
data = load_dataset("stanfordnlp/imdb")
tok = AutoTokenizer.from_pretrained(model_id)
data = data.map(lambda b: tok(b["text"], truncation=True, max_length=256), batched=True)
model = AutoModelForSequenceClassification.from_pretrained(model_id, num_labels=2)
args = TrainingArguments(
    output_dir="distilbert-imdb", num_train_epochs=2, per_device_train_batch_size=32,
    learning_rate=5e-5, eval_strategy="epoch", logging_steps=50, push_to_hub=True,
)
Trainer(model=model, args=args, train_dataset=data["train"], eval_dataset=data["test"],
        processing_class=tok).train()
'''

RESEARCH_REPORT = (
    "**Recipe (demo research, scripted):** fine-tune `distilbert-base-uncased` on "
    "`stanfordnlp/imdb` (25k train / 25k test) for 2 epochs, lr 5e-5, batch 32, max length "
    "256. Expected accuracy ≈ 0.92–0.93. One T4 finishes in about 25 minutes."
)

HELP = (
    "Hi! I'm running on the playground's **demo model** (a script, not a real LLM), so I can "
    "only play one story. Try: `@ml-intern fine-tune distilbert on imdb and push it to the "
    "Hub` — I'll research, plan, ask for approval of a GPU job on the simulated Hub, and tell "
    "you when it finishes. Set a provider key (e.g. `OPENAI_API_KEY`) for a real model."
)


# How the engine hears about a shared file: "(Attached files: a.csv)" (names only) or
# "[File `a.csv` (csv, 41 B, 3 lines), saved in your workspace …]" (files downloaded).
_ATTACHED = re.compile(r"\(Attached files: ([^)]+)\)|\[File `([^`]+)`")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"call_{secrets.token_hex(8)}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def next_step(body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message (``content`` and/or ``tool_calls``) for this request."""
    messages = body.get("messages") or []
    tools = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    if tools and "hf_jobs" not in tools:  # the read-only research sub-agent
        return {"role": "assistant", "content": RESEARCH_REPORT}
    # The person's last message (the engine's own "[SYSTEM: ...]" nudges are not requests).
    last_user = max(
        (
            i
            for i, m in enumerate(messages)
            if m.get("role") == "user" and not _text_of(m.get("content")).startswith("[SYSTEM")
        ),
        default=-1,
    )
    request = _text_of(messages[last_user].get("content")) if last_user >= 0 else ""
    done = [
        tc["function"]["name"]
        for m in messages[last_user + 1 :]
        if m.get("role") == "assistant"
        for tc in m.get("tool_calls") or []
    ]
    results = {
        m.get("tool_call_id"): _text_of(m.get("content"))
        for m in messages[last_user + 1 :]
        if m.get("role") == "tool"
    }
    job_calls = [
        tc["id"]
        for m in messages[last_user + 1 :]
        for tc in m.get("tool_calls") or []
        if tc["function"]["name"] == "hf_jobs"
    ]
    attached = _ATTACHED.search(request)
    if attached and not any(w in request.lower() for w in TRAIN_WORDS):
        name = (attached.group(1) or attached.group(2)).strip()
        return {
            "role": "assistant",
            "content": f"Got **{name}**. (Demo model: I can't read files for real — with a "
            "real model I would inspect it and suggest how to train on it.)",
        }
    if not any(w in request.lower() for w in TRAIN_WORDS) or not {"hf_jobs", "plan_tool"} <= tools:
        return {"role": "assistant", "content": HELP}
    if "research" in tools and "research" not in done:
        task = (
            "Best recipe to fine-tune distilbert on IMDB sentiment: data, hyperparameters, hardware"
        )
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [_call("research", {"task": task})],
        }
    if "plan_tool" not in done:
        return _plan(running=True)
    if "hf_jobs" not in done:
        run = {
            "operation": "run",
            "script": DEMO_SCRIPT,
            "hardware_flavor": "t4-small",
            "timeout": "1h",
        }
        return {"role": "assistant", "content": "", "tool_calls": [_call("hf_jobs", run)]}
    outcome = results.get(job_calls[-1], "") if job_calls else ""
    submitted = outcome.lower().startswith("job submitted")
    if done.count("plan_tool") < 2:
        return _plan(running=False, submitted=submitted)
    if not submitted:
        return {
            "role": "assistant",
            "content": "Understood — the job was not run. Tell me what to change (a smaller "
            "GPU, fewer epochs, another dataset) and I'll propose it again.",
        }
    return {
        "role": "assistant",
        "content": "The training job is submitted on a T4. I'll post here when it finishes, "
        "with the final metrics.",
    }


def _plan(*, running: bool, submitted: bool = False) -> dict[str, Any]:
    """The plan before the job (run pending approval) and after it (submitted or not)."""
    third = "Run it on a T4 (needs approval)"
    if not running:
        third = (
            "Submit the T4 job (the job card follows it)"
            if submitted
            else "Run it on a T4: not approved"
        )
    todos = [
        {"id": "1", "content": "Research a recipe", "status": "completed"},
        {"id": "2", "content": "Write the training script", "status": "completed"},
        {"id": "3", "content": third, "status": "in_progress" if running else "completed"},
    ]
    call = _call("plan_tool", {"todos": todos})
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    prompt = len(json.dumps(body.get("messages") or [])) // 4
    completion = max(1, len(json.dumps(message)) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunks(message: dict[str, Any], base: dict[str, Any]) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    text = message.get("content") or ""
    for i in range(0, len(text), 24):
        yield chunk({"content": text[i : i + 24]})
    calls = message.get("tool_calls") or []
    for index, call in enumerate(calls):
        head = {"index": index, "id": call["id"], "type": "function"}
        yield chunk(
            {
                "tool_calls": [
                    {**head, "function": {"name": call["function"]["name"], "arguments": ""}}
                ]
            }
        )
        args = call["function"]["arguments"]
        for i in range(0, len(args), 200):
            yield chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": args[i : i + 200]}}]}
            )
    yield chunk({}, "tool_calls" if calls else "stop")


class DemoModelRoutes:
    """``/demo-llm/v1/chat/completions`` and ``/demo-llm/v1/models`` on the playground's port."""

    prefix = "/demo-llm/v1"

    def __init__(self, think_s: float = THINK_S) -> None:
        self.think_s = think_s

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(f"{self.prefix}/chat/completions", self.completions)
        app.router.add_get(f"{self.prefix}/models", self.models)

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {API_KEY}"

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            error = {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return web.json_response({"error": error}, status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {"error": {"message": "invalid JSON", "type": "invalid_request_error"}}, status=400
            )
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return web.json_response(
                {"error": {"message": "messages is required", "type": "invalid_request_error"}},
                status=400,
            )
        message = next_step(body)
        # A real model takes a moment; so does the demo, so a person sees the status line and
        # the progress message at work instead of a finished thread (the simulation's pacing).
        await asyncio.sleep(self.think_s)
        base = {
            "id": f"chatcmpl-{secrets.token_hex(6)}",
            "created": int(time.time()),
            "model": MODEL_ID,
        }
        usage = _usage(body, message)
        if not body.get("stream"):
            finish = "tool_calls" if message.get("tool_calls") else "stop"
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        stream_base = {**base, "object": "chat.completion.chunk"}
        for chunk in _chunks(message, stream_base):
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(
                f"data: {json.dumps({**stream_base, 'choices': [], 'usage': usage})}\n\n".encode()
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
