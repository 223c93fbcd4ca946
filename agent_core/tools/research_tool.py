"""``research``: a read-only sub-agent with its own context that returns a recipe report.

Why a sub-agent: a literature-and-code survey reads dozens of pages; doing it in the main
conversation would fill its context with raw documents. The sub-agent reads, and only its
compact report (papers, results, datasets with Hub availability, method + hyperparameters,
code pointers) enters the main history.

What is different from upstream, and why:

* **Truly read-only.** The sub-agent may call only tools marked ``read_only`` that declare no
  approval gate, minus ``research`` itself (upstream's subset included ``bash`` and
  ``hf_repo_files`` upload/delete and skipped the approval gate). Every call is checked again
  at run time against :func:`agent_core.policy.base_requirement`; a call to anything else is
  answered "Tool '<x>' is not available to the research agent (read-only)." and not executed.
* **Which router.** The tool subset is taken, in order of preference, from
  ``services.extras["router_for"](session_id)`` (a per-session router, if the host provides
  one), ``services.extras["manager"].router`` (the router the sessions actually use, MCP tools
  included), or else :func:`agent_core.tools.catalog.build_tools` — then filtered as above.
* **Budgets from config.** ``tools.research_max_iterations`` (default 60) and
  ``tools.research_token_budget`` (default 200k): at 85 % the model is nudged to wrap up, at
  95 % it must summarise now (one tool-less call). The nudge says what it means (upstream's
  said "75 %" at a 170k/190k threshold).
* Tool outputs are clipped to 8,000 chars (4,800 head + 3,200 tail); the repetition guard
  (:mod:`agent_core.session.guards`) runs on the sub-agent's own messages and fires once per streak.
* The model is ``research_model`` from config (a cheaper model) or the session's model.
* Interrupts are honoured between steps and during an LLM call (``ctx.cancel_event``).
* Progress is a stream of compact ``tool_log`` lines (``tool="research"``, ``agent_id``,
  ``label``), and every LLM call is reported as an ``llm_call`` event (``kind="research"``) so
  usage accounting sees the sub-agent's spend.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from .. import policy
from ..llm_errors import LLMError
from ..session.guards import check_for_doom_loop
from .base import Services, ToolContext, ToolSpec
from .router import ToolRouter

TOOL_NAME = "research"
CLIP_CHARS = 8_000
CLIP_HEAD = 4_800
CLIP_TAIL = 3_200
NUDGE_AT = 0.85
FORCE_AT = 0.95
REPORT_CAP = 20_000

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": (
                "The research question, specific enough to act on (e.g. 'best current recipe "
                "to SFT a 1-3B model for tool calling: datasets, hyperparameters, TRL code')."
            ),
        },
        "context": {
            "type": "string",
            "description": "What you already know or have decided (model, budget, constraints).",
        },
    },
    "required": ["task"],
}

NOT_AVAILABLE = "Tool '{name}' is not available to the research agent (read-only)."
NUDGE = (
    "[SYSTEM: CONTEXT BUDGET] You have used about 85% of your research context budget. Stop "
    "exploring: make at most one or two more essential calls, then write the final report."
)
FORCE = (
    "[SYSTEM: CONTEXT LIMIT REACHED] Your research context budget is nearly exhausted. Do not "
    "call any more tools. Summarize your findings NOW in the required report format."
)
ITERATION_LIMIT = (
    "[SYSTEM: ITERATION LIMIT] You have reached the maximum number of research steps. Do not "
    "call any more tools. Write the final report NOW from what you have found."
)


@lru_cache(maxsize=1)
def _prompt_template() -> str:
    return (
        resources.files("agent_core.prompts")
        .joinpath("research_system_prompt.md")
        .read_text(encoding="utf-8")
    )


def research_system_prompt(now: datetime | None = None) -> str:
    date = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    return _prompt_template().replace("{date}", date)


def clip(text: str) -> str:
    """Keep the first 4,800 and last 3,200 characters of an output over 8,000."""
    if len(text) <= CLIP_CHARS:
        return text
    return text[:CLIP_HEAD] + "\n...(truncated)...\n" + text[-CLIP_TAIL:]


def allowed_for_research(spec: ToolSpec) -> bool:
    return spec.read_only and spec.approval is None and spec.name != TOOL_NAME


def research_router(ctx: ToolContext) -> ToolRouter:
    """The read-only subset of the session's tools (see the module docstring for the source)."""
    extras = ctx.services.extras
    specs: list[ToolSpec] | None = None
    router_for = extras.get("router_for")
    if callable(router_for):
        router = router_for(ctx.session_id)
        specs = router.specs() if router is not None else None
    if specs is None:
        router = getattr(extras.get("manager"), "router", None)
        specs = router.specs() if router is not None else None
    if specs is None:
        from .catalog import build_tools

        specs = build_tools(ctx.services)
    cap = ctx.services.config.tools.output_cap_chars if ctx.services.config else 25_000
    return ToolRouter((s for s in specs if allowed_for_research(s)), default_cap=cap)


def _tokens_of(usage: dict[str, int], messages: list[dict[str, Any]]) -> int:
    total = usage.get("total_tokens") or (
        usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    )
    if total:
        return int(total)
    return sum(len(json.dumps(m, ensure_ascii=False)) for m in messages) // 4


class Interrupted(Exception):
    """The session was interrupted while the sub-agent was waiting on its model."""


async def _race_cancel(coro: Any, cancel_event: asyncio.Event) -> Any:
    """Await ``coro`` unless the session is interrupted first (then raise :class:`Interrupted`)."""
    work = asyncio.ensure_future(coro)
    stop = asyncio.ensure_future(cancel_event.wait())
    try:
        done, _ = await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return work.result()
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        raise Interrupted
    finally:
        stop.cancel()
        if not work.done():
            work.cancel()


class _Run:
    """One research invocation: its own messages, counters and progress reporting."""

    def __init__(self, ctx: ToolContext, llm: Any, model: str, router: ToolRouter, label: str):
        self.ctx = ctx
        self.llm = llm
        self.model = model
        self.router = router
        self.agent_id = ctx.tool_call_id or secrets.token_hex(4)
        self.label = label
        self.tool_count = 0
        self.doom_fired: str | None = None
        self.messages: list[dict[str, Any]] = []

    async def log(self, text: str) -> None:
        await self.ctx.log(text, tool=TOOL_NAME, agent_id=self.agent_id, label=self.label)

    async def complete(self, tools: list[dict[str, Any]] | None) -> Any:
        result = await _race_cancel(
            self.llm.complete(self.messages, model=self.model, tools=tools or None, stream=False),
            self.ctx.cancel_event,
        )
        await self.ctx.emit(
            "llm_call",
            {
                "model": self.model,
                "kind": TOOL_NAME,
                "agent_id": self.agent_id,
                "latency_ms": round(getattr(result, "latency_ms", 0.0), 1),
                "finish_reason": result.finish_reason,
                **(result.usage or {}),
            },
        )
        return result

    async def summary(self, instruction: str) -> tuple[str, bool]:
        """One tool-less call asking for the report now."""
        self.messages.append({"role": "user", "content": instruction})
        try:
            result = await self.complete(None)
        except LLMError as exc:
            return f"Research agent LLM error while summarising: {exc}", False
        text = (result.content or "").strip()
        if not text:
            return "Research stopped before producing a summary.", False
        await self.log("Research complete.")
        return text, True

    async def run_tool(self, call: dict[str, str], index: int) -> str:
        name = call.get("name") or ""
        spec = self.router.get(name)
        if spec is None:
            await self.log(f"✗ {name} refused (not read-only)")
            return NOT_AVAILABLE.format(name=name)
        raw = call.get("arguments") or ""
        try:
            args = json.loads(raw) if raw.strip() else {}
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except (ValueError, TypeError) as exc:
            return f"Invalid tool arguments for '{name}': {exc}. Send a JSON object."
        config = self.ctx.services.config
        if config is not None and policy.base_requirement(name, args, config, spec) is not None:
            await self.log(f"✗ {name} refused (needs approval)")
            return NOT_AVAILABLE.format(name=name)
        shown = json.dumps(args, ensure_ascii=False)
        await self.log(f"▸ {name}  {shown[:80]}")
        child = replace(self.ctx, tool_call_id=f"{self.agent_id}:r{index}")
        text, _ok = await self.router.call(name, args, child)
        return clip(text)


async def research_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    task = str(args.get("task") or "").strip()
    if not task:
        return "ERROR: 'task' is required: say what to research.", False
    llm = ctx.services.extras.get("llm")
    if llm is None:
        return "ERROR: research is unavailable: no LLM client is configured.", False
    config = ctx.services.config
    model = (
        (config.research_model if config else None)
        or ctx.model
        or (config.model_name if config else "")
    )
    max_iterations = config.tools.research_max_iterations if config else 60
    budget = config.tools.research_token_budget if config else 200_000
    label = f"research: {task[:50]}{'…' if len(task) > 50 else ''}"
    run = _Run(ctx, llm, model, research_router(ctx), label)
    context = str(args.get("context") or "").strip()
    user = f"Context: {context}\n\nResearch task: {task}" if context else f"Research task: {task}"
    run.messages = [
        {"role": "system", "content": research_system_prompt()},
        {"role": "user", "content": user},
    ]
    await run.log("Starting research sub-agent...")
    try:
        return await _loop(run, ctx, max_iterations, budget)
    except Interrupted:
        await run.log("Research interrupted.")
        return "Research interrupted.", False


async def _loop(run: _Run, ctx: ToolContext, max_iterations: int, budget: int) -> tuple[str, bool]:
    tools = run.router.openai_tools()
    nudged = False
    for _iteration in range(max_iterations):
        if ctx.cancel_event.is_set():
            return "Research interrupted.", False
        try:
            result = await run.complete(tools)
        except LLMError as exc:
            await run.log(f"LLM error: {exc}")
            return f"Research agent LLM error: {exc}", False
        used = _tokens_of(result.usage or {}, run.messages)
        await run.log(f"tokens:{used}")
        calls = [c for c in result.tool_calls or [] if c.get("name")]
        for i, c in enumerate(calls):
            if not c.get("id"):
                c["id"] = f"{run.agent_id}_{run.tool_count + i}"
        if not calls:
            run.messages.append({"role": "assistant", "content": result.content or ""})
            text = (result.content or "").strip()
            await run.log("Research complete.")
            return text or "Research completed but no summary generated.", True
        if used >= FORCE_AT * budget:
            # Do not run these calls: their results would not fit. Keep the text only.
            run.messages.append({"role": "assistant", "content": result.content or ""})
            await run.log("Context budget nearly exhausted — extracting summary")
            return await run.summary(FORCE)
        run.messages.append(
            {
                "role": "assistant",
                "content": result.content or None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c.get("arguments") or ""},
                    }
                    for c in calls
                ],
            }
        )
        for c in calls:  # sequential: research calls are cheap, and order aids the log
            if ctx.cancel_event.is_set():
                return "Research interrupted.", False
            output = await run.run_tool(c, run.tool_count)
            run.tool_count += 1
            run.messages.append({"role": "tool", "tool_call_id": c["id"], "content": output})
        await run.log(f"tools:{run.tool_count}")
        found = check_for_doom_loop(run.messages)
        if found is not None and found[0] != run.doom_fired:
            run.doom_fired = found[0]
            run.messages.append({"role": "user", "content": found[1]})
        if used >= NUDGE_AT * budget and not nudged:
            nudged = True
            await run.log("Context budget at 85% — asking for the report")
            run.messages.append({"role": "user", "content": NUDGE})
    await run.log("Iteration limit reached — extracting summary")
    text, ok = await run.summary(ITERATION_LIMIT)
    if not ok:
        return f"Research agent hit the iteration limit ({max_iterations}). {text}", False
    return text, True


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name=TOOL_NAME,
            description=(
                "Delegate a research task to a read-only sub-agent with its own context (docs, "
                "papers, GitHub, datasets, web). Returns a recipe report: papers and results, "
                "datasets with Hub availability, method and hyperparameters, code pointers. Use "
                "it before writing non-trivial training code. Several calls run in parallel."
            ),
            parameters=PARAMETERS,
            handler=research_handler,
            read_only=True,  # it cannot write or spend; excluded from its own subset by name
            output_cap=REPORT_CAP,
            timeout_s=1800.0,
            key_argument="task",
        )
    ]
