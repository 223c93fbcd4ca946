"""One conversation: its history, its state, and the agentic loop that runs its turns.

A session processes one operation at a time (the manager guarantees that); everything it
learns is written to the store before it is acted on or announced, so a restart resumes from
the last thing anyone saw. Interrupts never cancel the loop coroutine itself — they cancel the
LLM call or tool tasks it is waiting on, so the loop always reaches its own cleanup.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import policy
from .approvals import ABANDONED, APPROVED, EXPIRED, REJECTED, ApprovalBook, PendingCall
from .context import (
    CompactionFailed,
    ContextManager,
    patch_dangling_tool_calls,
    undo_last_turn,
    wire_messages,
)
from .doom_loop import check_for_doom_loop
from .events import (
    Compact,
    EventType,
    ExecApproval,
    Operation,
    SetModel,
    SetYolo,
    Shutdown,
    SystemNote,
    Undo,
    UserInput,
)
from .input_limits import clip_for_model
from .llm import LLMClient, LLMResult
from .llm_errors import CONTEXT_OVERFLOW, LLMError
from .redact import StreamScrubber, scrub
from .tools.base import CleanupHook, Services, ToolContext
from .tools.plan_tool import unfinished
from .tools.router import ToolRouter

if TYPE_CHECKING:
    from .config import Config
    from .events import Event

log = logging.getLogger(__name__)

MALFORMED_TEMPLATE = (
    "ERROR: Tool call to '{name}' had malformed JSON arguments and was NOT executed. "
    "Retry with valid JSON (and smaller content — for 'write', split into several 'edit' calls)."
)
ABANDONED_RESULT = "Task abandoned — user continued the conversation without approving."
REJECTED_RESULT = "The user rejected this call; it was not executed."
EXPIRED_RESULT = "The approval request expired before anyone answered; the call was not executed."
INTERRUPTED_RESULT = "Interrupted by the user before it finished."
CONTINUATION_GUARD_LIMIT = 2
MALFORMED_STREAK = 2


class TurnCancelled(Exception):
    """The user interrupted the turn."""


EmitFn = Callable[[str, str, dict[str, Any]], Awaitable["Event"]]


class Session:
    """A loaded session. Created and owned by the SessionManager."""

    def __init__(
        self,
        *,
        session_id: str,
        origin: dict[str, Any],
        model: str,
        state: dict[str, Any],
        history: list[dict[str, Any]],
        config: Config,
        llm: LLMClient,
        context: ContextManager,
        router: ToolRouter,
        services: Services,
        approvals: ApprovalBook,
        emit: EmitFn,
        system_prompt: Callable[[list[str]], str],
    ) -> None:
        self.id = session_id
        self.origin = origin
        self.model = model
        self.state = state
        self.history = history
        self.config = config
        self.llm = llm
        self.context = context
        self.router = router
        self.services = services
        self.approvals = approvals
        self._emit = emit
        self._system_prompt = system_prompt
        self._persisted_len = len(history)
        self._rewrite = False
        self.cancel_event = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._cleanups: dict[str, CleanupHook] = {}
        self.busy = False

    # ------------------------------------------------------------------ plumbing
    @property
    def store(self):  # noqa: ANN201 - Store, kept untyped to avoid an import cycle
        assert self.services.store is not None
        return self.services.store

    async def emit(self, type_: str, data: dict[str, Any] | None = None) -> Event:
        return await self._emit(self.id, str(type_), data or {})

    def add_message(self, message: dict[str, Any]) -> None:
        self.history.append(scrub(message))

    async def commit(self) -> None:
        """Persist history changes and session state (call before acting on them)."""
        if self._rewrite:
            await self.store.replace_messages(self.id, self.history)
            self._rewrite = False
        elif len(self.history) > self._persisted_len:
            await self.store.append_messages(
                self.id, self._persisted_len, self.history[self._persisted_len :]
            )
        elif len(self.history) < self._persisted_len:
            await self.store.replace_messages(self.id, self.history)
        self._persisted_len = len(self.history)
        await self.store.update_session(self.id, state=self.state, model=self.model)

    def mark_rewritten(self) -> None:
        self._rewrite = True

    def system_prompt(self) -> str:
        return self._system_prompt(self.router.names)

    def interrupt(self) -> bool:
        """Cancel what the running turn waits on. Returns False when nothing was running."""
        if not self.busy:
            return False
        self.cancel_event.set()
        for task in list(self._inflight):
            task.cancel()
        return True

    async def _race(self, coro: Awaitable[Any]) -> Any:
        """Await ``coro`` unless the turn is interrupted first (then raise TurnCancelled)."""
        if self.cancel_event.is_set():
            if asyncio.iscoroutine(coro):
                coro.close()
            raise TurnCancelled
        task = asyncio.ensure_future(coro)
        self._inflight.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            if self.cancel_event.is_set():
                raise TurnCancelled from None
            raise
        finally:
            self._inflight.discard(task)

    def _register_cleanup(self, name: str, hook: CleanupHook) -> None:
        self._cleanups[name] = hook

    async def _run_cleanups(self) -> None:
        hooks, self._cleanups = self._cleanups, {}
        for name, hook in hooks.items():
            try:
                await asyncio.wait_for(hook(), timeout=10)
            except Exception:
                log.warning("cleanup hook %s failed", name, exc_info=True)

    def _tool_context(self, tool_call_id: str) -> ToolContext:
        return ToolContext(
            session_id=self.id,
            tool_call_id=tool_call_id,
            origin=self.origin,
            services=self.services,
            emit=self.emit,
            cancel_event=self.cancel_event,
            session_state=self.state,
            register_cleanup=self._register_cleanup,
            model=self.model,
        )

    # ------------------------------------------------------------------ operations
    async def handle(self, op: Operation) -> None:
        """Process one operation to completion (the manager calls this serially)."""
        self.busy = True
        self.cancel_event.clear()
        try:
            if isinstance(op, UserInput):
                await self.run_turn(op.text, user=op.user, meta=op.meta)
            elif isinstance(op, SystemNote):
                await self.run_turn(op.text, synthetic=True, run_llm=op.resume)
            elif isinstance(op, ExecApproval):
                await self.execute_approvals(op)
            elif isinstance(op, Compact):
                await self.manual_compact()
            elif isinstance(op, Undo):
                await self.undo()
            elif isinstance(op, SetModel):
                self.model = op.model.strip()
                await self.commit()
                await self.emit(EventType.SESSION_UPDATE, {"model": self.model})
            elif isinstance(op, SetYolo):
                st = policy.yolo_state(self.state, self.config)
                st["enabled"] = op.enabled
                if op.cap_usd is not None:
                    st["cap_usd"] = float(op.cap_usd)
                await self.commit()
                await self.emit(
                    EventType.SESSION_UPDATE,
                    {
                        "yolo": {
                            "enabled": st["enabled"],
                            "cap_usd": st["cap_usd"],
                            "spent_usd": st["spent_usd"],
                            "remaining_usd": policy.remaining_budget(self.state, self.config),
                        }
                    },
                )
            elif isinstance(op, Shutdown):
                await self.emit(EventType.SHUTDOWN, {})
        finally:
            self.busy = False
            self.cancel_event.clear()
            self._inflight.clear()

    async def undo(self) -> None:
        await self._abandon_pending()
        removed = undo_last_turn(self.history)
        if removed:
            self.mark_rewritten()
            self.state["plan"] = []
        await self.commit()
        await self.emit(EventType.UNDO_COMPLETE, {"removed": removed})

    async def manual_compact(self) -> None:
        prompt = self.system_prompt()
        old = self.context.tokens(self.model, prompt, self.history)
        try:
            new_history, old, new = await self.context.compact(self.model, prompt, self.history)
        except CompactionFailed as exc:
            await self.emit(
                EventType.ERROR, {"error": f"Compaction failed: {exc}", "kind": "compaction"}
            )
            return
        except LLMError as exc:
            await self.emit(
                EventType.ERROR, {"error": f"Compaction failed: {exc.message}", "kind": exc.kind}
            )
            return
        if len(new_history) == len(self.history) and new >= old:
            await self.emit(
                EventType.COMPACTED,
                {"old_tokens": old, "new_tokens": new, "note": "nothing to compact"},
            )
            return
        self.history[:] = new_history
        self.mark_rewritten()
        self.state["context_tokens"] = new
        await self.commit()
        await self.emit(EventType.COMPACTED, {"old_tokens": old, "new_tokens": new})

    # ------------------------------------------------------------------ approvals
    async def _abandon_pending(self) -> None:
        calls = await self.approvals.abandon_pending(self.id)
        if not calls:
            return
        answered = {m.get("tool_call_id") for m in self.history if m.get("role") == "tool"}
        for call in calls:
            if call.tool_call_id not in answered:
                self.add_message(
                    {
                        "role": "tool",
                        "tool_call_id": call.tool_call_id,
                        "name": call.tool,
                        "content": ABANDONED_RESULT,
                    }
                )
        self.state["pending_batch"] = None
        self._flush_deferred_notes()
        await self.commit()
        for call in calls:
            await self.emit(
                EventType.TOOL_STATE_CHANGE,
                {"tool_call_id": call.tool_call_id, "tool": call.tool, "state": "abandoned"},
            )
        await self.emit(
            EventType.APPROVAL_RESOLVED,
            {
                "batch_id": calls[0].batch_id,
                "outcome": "abandoned",
                "decisions": [
                    {"tool_call_id": c.tool_call_id, "tool": c.tool, "status": ABANDONED}
                    for c in calls
                ],
                "decided_by": None,
            },
        )

    async def execute_approvals(self, op: ExecApproval) -> None:
        """Run the approved calls of a fully decided batch, then continue the turn."""
        batch_id = op.batch_id or self.state.get("pending_batch")
        if not batch_id:
            await self.emit(
                EventType.ERROR,
                {"error": "There is no pending approval to answer.", "kind": "approval"},
            )
            return
        calls = await self.approvals.batch(self.id, batch_id)
        if not calls:
            await self.emit(
                EventType.ERROR, {"error": "That approval request is unknown.", "kind": "approval"}
            )
            return
        if any(c.status == "pending" for c in calls):
            # Decisions made through the engine API (not pre-claimed): claim them now.
            result = await self.approvals.claim(
                self.id, op.approvals, op.decided_by, complete_batch=True, batch_id=batch_id
            )
            if not result.ok:
                await self.emit(
                    EventType.ERROR,
                    {"error": f"Approval refused: {result.error}", "kind": "approval"},
                )
                return
            calls = await self.approvals.batch(self.id, batch_id)
        answered = {m.get("tool_call_id") for m in self.history if m.get("role") == "tool"}
        todo = [c for c in calls if c.tool_call_id not in answered]
        if not todo:
            return  # already executed (a replayed op after a restart)
        self.state["pending_batch"] = None
        await self.commit()
        await self.emit(
            EventType.APPROVAL_RESOLVED,
            {
                "batch_id": batch_id,
                "outcome": "expired" if all(c.status == EXPIRED for c in todo) else "decided",
                "decisions": [
                    {
                        "tool_call_id": c.tool_call_id,
                        "tool": c.tool,
                        "status": c.status,
                        "decided_by": c.decided_by,
                        "feedback": c.feedback,
                        "edited": bool(c.overrides.get("edited_script")),
                    }
                    for c in todo
                ],
                "decided_by": op.decided_by,
            },
        )
        approved = [c for c in todo if c.status == APPROVED]
        for c in todo:
            await self.emit(
                EventType.TOOL_STATE_CHANGE,
                {
                    "tool_call_id": c.tool_call_id,
                    "tool": c.tool,
                    "state": c.status,
                    "decided_by": c.decided_by,
                },
            )
        results: dict[str, tuple[str, bool]] = {}
        for c in todo:
            if c.status == APPROVED:
                continue
            text = {
                REJECTED: REJECTED_RESULT,
                EXPIRED: EXPIRED_RESULT,
                ABANDONED: ABANDONED_RESULT,
            }.get(c.status, REJECTED_RESULT)
            if c.feedback:
                clean = "".join(ch for ch in c.feedback if ch >= " " or ch in "\n\t")
                text += f" User feedback: {clean}"
            results[c.tool_call_id] = (text, False)
        cancelled = False
        try:
            outputs = await self._run_calls(
                [(c.tool_call_id, c.tool, self._apply_overrides(c)) for c in approved]
            )
            results.update(outputs)
        except TurnCancelled:
            cancelled = True
        for c in todo:
            text, ok = results.get(c.tool_call_id, (INTERRUPTED_RESULT, False))
            if c.status == APPROVED and c.overrides.get("edited_script"):
                text = "[Note: the user edited the script before approving.]\n" + text
            self.add_message(
                {"role": "tool", "tool_call_id": c.tool_call_id, "name": c.tool, "content": text}
            )
        await self.commit()
        for c in todo:
            text, ok = results.get(c.tool_call_id, (INTERRUPTED_RESULT, False))
            await self.emit(
                EventType.TOOL_OUTPUT,
                {"tool": c.tool, "tool_call_id": c.tool_call_id, "output": text, "success": ok},
            )
        if cancelled:
            await self._finish_cancelled()
            return
        self._flush_deferred_notes()
        await self.commit()
        if not op.resume:
            if op.decided_by == "stop":
                await self.emit(EventType.INTERRUPTED, {})
            return
        await self.run_turn(None)

    def _flush_deferred_notes(self) -> None:
        for note in self.state.pop("deferred_notes", None) or []:
            self.add_message({"role": "user", "content": note, "_synthetic": True})

    def _apply_overrides(self, call: PendingCall) -> dict[str, Any]:
        args = dict(call.arguments)
        if call.overrides.get("edited_script") and "script" in args:
            args["script"] = call.overrides["edited_script"]
        elif call.overrides.get("edited_script") and call.tool == "bash":
            args["command"] = call.overrides["edited_script"]
        if call.overrides.get("namespace"):
            args["namespace"] = call.overrides["namespace"]
        return args

    # ------------------------------------------------------------------ tools
    async def _run_calls(
        self, calls: list[tuple[str, str, dict[str, Any]]]
    ) -> dict[str, tuple[str, bool]]:
        """Run calls concurrently; raise TurnCancelled if interrupted (after cleanup)."""
        if not calls:
            return {}

        async def one(tool_call_id: str, name: str, args: dict[str, Any]) -> tuple[str, bool]:
            return await self.router.call(name, args, self._tool_context(tool_call_id))

        tasks = {tcid: asyncio.ensure_future(one(tcid, name, args)) for tcid, name, args in calls}
        for t in tasks.values():
            self._inflight.add(t)
        try:
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        finally:
            for t in tasks.values():
                self._inflight.discard(t)
        out: dict[str, tuple[str, bool]] = {}
        for tcid, task in tasks.items():
            if task.cancelled():
                continue
            exc = task.exception()
            if exc is not None:
                out[tcid] = (f"ERROR: {type(exc).__name__}: {exc}", False)
            else:
                out[tcid] = task.result()
        if self.cancel_event.is_set():
            for tcid, name, _ in calls:
                if tcid not in out:
                    await self.emit(
                        EventType.TOOL_STATE_CHANGE,
                        {"tool_call_id": tcid, "tool": name, "state": "cancelled"},
                    )
            raise TurnCancelled
        return out

    # ------------------------------------------------------------------ the turn
    async def run_turn(
        self,
        text: str | None,
        *,
        user: str | None = None,
        meta: dict[str, Any] | None = None,
        synthetic: bool = False,
        run_llm: bool = True,
    ) -> str | None:
        """One agentic turn: call the model, run tools, repeat until it answers or must wait."""
        if text and synthetic and self.state.get("pending_batch"):
            # A system note (e.g. "your job finished") must not abandon calls waiting for a
            # person, and cannot sit between a tool call and its result: defer it until the
            # batch is answered.
            self.state.setdefault("deferred_notes", []).append(text)
            await self.commit()
            return None
        if text:
            await self._abandon_pending()
            content = clip_for_model(text, self.config.max_user_message_chars)
            msg: dict[str, Any] = {"role": "user", "content": content}
            if synthetic:
                msg["_synthetic"] = True
            elif user:
                msg["_user"] = user
            self.add_message(msg)
            await self.commit()
        if not run_llm:
            return None
        if self.state.get("pending_batch"):
            await self.emit(
                EventType.ERROR,
                {
                    "error": "Waiting for an approval decision before continuing.",
                    "kind": "approval",
                },
            )
            return None
        await self.emit(
            EventType.PROCESSING, {"message": "Processing user input", "meta": meta or {}}
        )
        iteration = 0
        guard_retries = 0
        forced_compactions = 0
        final: str | None = None
        limit = self.config.max_iterations
        try:
            while limit == -1 or iteration < limit:
                if self.cancel_event.is_set():
                    raise TurnCancelled
                if not await self._maybe_compact():
                    return None
                self._inject_guards()
                if patch_dangling_tool_calls(self.history):
                    self.mark_rewritten()
                await self.commit()
                try:
                    result = await self._call_llm()
                except LLMError as err:
                    if err.kind == CONTEXT_OVERFLOW and forced_compactions < 1:
                        forced_compactions += 1
                        iteration += 1
                        await self.emit(
                            EventType.TOOL_LOG,
                            {
                                "tool": "system",
                                "log": "Context window exceeded — compacting and retrying.",
                            },
                        )
                        if not await self._maybe_compact(force=True):
                            return None
                        continue
                    await self.emit(EventType.ERROR, {"error": err.message, "kind": err.kind})
                    await self._end_turn_bookkeeping()
                    return None
                iteration += 1
                if result.finish_reason == "length" and result.tool_calls:
                    names = ", ".join(tc["name"] for tc in result.tool_calls)
                    if result.content:
                        self.add_message({"role": "assistant", "content": result.content})
                    self.add_message(
                        {
                            "role": "user",
                            "_synthetic": True,
                            "content": (
                                "[SYSTEM: Your previous response was cut off by the output token "
                                f"limit, so these tool calls were lost: [{names}]. Make smaller "
                                "calls (split large files into several writes or edits).]"
                            ),
                        }
                    )
                    await self.emit(
                        EventType.TOOL_LOG,
                        {"tool": "system", "log": f"Output truncated; dropped tool calls: {names}"},
                    )
                    continue
                if not result.tool_calls:
                    content = result.content
                    if result.finish_reason == "length":
                        content += "\n\n_(The answer was cut off by the model's output limit.)_"
                    pending_items = unfinished(self.state.get("plan"))
                    if pending_items and guard_retries < CONTINUATION_GUARD_LIMIT:
                        guard_retries += 1
                        if content:
                            self.add_message({"role": "assistant", "content": content})
                        listing = "; ".join(
                            f"{t['id']}. {t['content']} [{t['status']}]" for t in pending_items[:4]
                        )
                        more = (
                            f" ... and {len(pending_items) - 4} more"
                            if len(pending_items) > 4
                            else ""
                        )
                        self.add_message(
                            {
                                "role": "user",
                                "_synthetic": True,
                                "content": (
                                    "[SYSTEM: CONTINUATION GUARD] Your plan still has unfinished "
                                    f"items: {listing}{more}. Continue working on them with tools, "
                                    "or update the plan with plan_tool if they are done or no "
                                    "longer needed."
                                ),
                            }
                        )
                        await self.emit(
                            EventType.TOOL_LOG,
                            {
                                "tool": "system",
                                "log": "Plan unfinished after a text-only response; asking the agent to continue.",
                            },
                        )
                        continue
                    self.add_message({"role": "assistant", "content": content})
                    final = content
                    break
                guard_retries = 0
                suspended = await self._handle_tool_calls(result)
                if suspended:
                    return None
            else:
                final = (
                    f"I stopped after {limit} steps without finishing. Reply `continue` to let me "
                    "keep going, or tell me what to change."
                )
                self.add_message({"role": "assistant", "content": final, "_synthetic": True})
                await self.emit(
                    EventType.TOOL_LOG,
                    {"tool": "system", "log": f"Reached max_iterations ({limit})."},
                )
        except TurnCancelled:
            await self._finish_cancelled()
            return None
        await self._end_turn_bookkeeping()
        await self.emit(
            EventType.TURN_COMPLETE,
            {"history_size": len(self.history), "final_response": final},
        )
        return final

    async def _end_turn_bookkeeping(self) -> None:
        self.state["turn_count"] = int(self.state.get("turn_count", 0)) + 1
        await self.commit()

    async def _finish_cancelled(self) -> None:
        await self._run_cleanups()
        if patch_dangling_tool_calls(self.history):
            self.mark_rewritten()
        await self._end_turn_bookkeeping()
        await self.emit(EventType.INTERRUPTED, {})

    def _inject_guards(self) -> None:
        found = check_for_doom_loop(self.history)
        if found is not None:
            key, prompt = found
            if self.state.get("doom_fired") != key:
                self.state["doom_fired"] = key
                self.add_message({"role": "user", "content": prompt, "_synthetic": True})
        malformed = self._repeated_malformed()
        if malformed and self.state.get("malformed_fired") != len(self.history):
            self.add_message(
                {
                    "role": "user",
                    "_synthetic": True,
                    "content": (
                        f"[SYSTEM: Repeated malformed tool arguments detected for '{malformed}'. "
                        "Stop retrying the same call shape: use a different strategy, e.g. write "
                        "the file in several smaller pieces."
                    ),
                }
            )
            self.state["malformed_fired"] = len(self.history)

    def _repeated_malformed(self) -> str | None:
        streak, name = 0, None
        for m in reversed(self.history):
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

    async def _maybe_compact(self, force: bool = False) -> bool:
        """Compact when over the threshold (or forced). False → the turn must stop."""
        prompt = self.system_prompt()
        tokens = self.context.tokens(self.model, prompt, self.history)
        self.state["context_tokens"] = tokens
        if not force and not self.context.needs_compaction(self.model, tokens):
            return True
        try:
            new_history, old, new = await self._race(
                self.context.compact(self.model, prompt, self.history)
            )
        except (CompactionFailed, LLMError) as exc:
            message = exc.message if isinstance(exc, LLMError) else str(exc)
            await self.emit(
                EventType.ERROR,
                {
                    "error": (
                        "This conversation is too long for the model's context window and "
                        f"could not be compacted ({message}). Start a new thread, or `undo` "
                        "the last large step."
                    ),
                    "kind": "context_overflow",
                },
            )
            await self._end_turn_bookkeeping()
            return False
        self.history[:] = new_history
        self.mark_rewritten()
        self.state["context_tokens"] = new
        await self.commit()
        await self.emit(EventType.COMPACTED, {"old_tokens": old, "new_tokens": new})
        return True

    async def _call_llm(self) -> LLMResult:
        messages = wire_messages(self.system_prompt(), self.history)
        tools = self.router.openai_tools()

        scrubber = StreamScrubber()  # a secret split over deltas must not reach the store

        async def on_chunk(delta: str) -> None:
            if released := scrubber.feed(delta):
                await self.emit(EventType.ASSISTANT_CHUNK, {"content": released})

        async def on_retry(err: LLMError, attempt: int, delay: float) -> None:
            await self.emit(
                EventType.TOOL_LOG,
                {
                    "tool": "system",
                    "log": f"LLM {err.kind.replace('_', ' ')} ({err.original[:120]}); retry {attempt} in {delay:.1f}s",
                },
            )

        result: LLMResult = await self._race(
            self.llm.complete(
                messages, model=self.model, tools=tools, on_chunk=on_chunk, on_retry=on_retry
            )
        )
        if rest := scrubber.flush():
            await self.emit(EventType.ASSISTANT_CHUNK, {"content": rest})
        if self.config.stream:
            await self.emit(EventType.ASSISTANT_STREAM_END, {})
        if result.content:
            await self.emit(EventType.ASSISTANT_MESSAGE, {"content": result.content})
        if result.usage.get("total_tokens"):
            self.state["context_tokens"] = result.usage["total_tokens"]
        await self.emit(
            EventType.LLM_CALL,
            {
                "model": self.model,
                "latency_ms": round(result.latency_ms, 1),
                "finish_reason": result.finish_reason,
                **result.usage,
            },
        )
        return result

    async def _handle_tool_calls(self, result: LLMResult) -> bool:
        """Record the assistant message, run what may run, gate the rest. True → suspended."""
        parsed: list[tuple[dict[str, str], dict[str, Any] | None]] = []
        for i, tc in enumerate(result.tool_calls):
            if not tc.get("id"):
                tc["id"] = f"call_{uuid.uuid4().hex[:12]}_{i}"
            try:
                args = json.loads(tc["arguments"]) if tc["arguments"].strip() else {}
                if not isinstance(args, dict):
                    raise ValueError("arguments must be a JSON object")
            except (json.JSONDecodeError, ValueError, TypeError):
                args = None
            parsed.append((tc, args))
        self.add_message(
            {
                "role": "assistant",
                "content": result.content or None,
                "tool_calls": [
                    {
                        "id": tc["id"],
                        "type": "function",
                        "function": {
                            "name": tc["name"],
                            "arguments": tc["arguments"] if args is not None else "{}",
                        },
                    }
                    for tc, args in parsed
                ],
            }
        )
        await self.commit()
        immediate: list[tuple[str, str, dict[str, Any], policy.ApprovalRequirement | None]] = []
        gated: list[tuple[str, str, dict[str, Any], policy.ApprovalRequirement]] = []
        results: dict[str, tuple[str, bool]] = {}
        for tc, args in parsed:
            if args is None:
                results[tc["id"]] = (MALFORMED_TEMPLATE.format(name=tc["name"]), False)
                continue
            spec = self.router.get(tc["name"])
            req = policy.decide(tc["name"], args, self.config, self.state, tc["id"], spec)
            if req is not None and req.required:
                gated.append((tc["id"], tc["name"], args, req))
            else:
                immediate.append((tc["id"], tc["name"], args, req))
        for tc, args in parsed:
            if tc["id"] in {g[0] for g in gated}:
                continue
            data: dict[str, Any] = {
                "tool": tc["name"],
                "arguments": args or {},
                "tool_call_id": tc["id"],
            }
            spec = self.router.get(tc["name"])
            if spec and spec.key_argument:
                data["key_argument"] = spec.key_argument
            req = next((r for i, _, _, r in immediate if i == tc["id"]), None)
            if req is not None and req.auto_approved:
                data["auto_approved"] = True
                data["estimated_cost_usd"] = req.estimated_cost_usd
            await self.emit(EventType.TOOL_CALL, data)
        cancelled = False
        try:
            results.update(await self._run_calls([(i, n, a) for i, n, a, _ in immediate]))
        except TurnCancelled:
            cancelled = True
        for i, _, _, req in immediate:
            if req is not None and req.auto_approved and req.billable:
                ok = results.get(i, ("", False))[1]
                policy.settle_reservation(
                    self.state, self.config, i, req.estimated_cost_usd if ok else None
                )
        for tc, _args in parsed:
            if tc["id"] in results:
                self.add_message(
                    {
                        "role": "tool",
                        "tool_call_id": tc["id"],
                        "name": tc["name"],
                        "content": results[tc["id"]][0],
                    }
                )
        await self.commit()
        for tc, _ in parsed:
            if tc["id"] in results:
                text, ok = results[tc["id"]]
                await self.emit(
                    EventType.TOOL_OUTPUT,
                    {"tool": tc["name"], "tool_call_id": tc["id"], "output": text, "success": ok},
                )
        if cancelled:
            raise TurnCancelled
        if not gated:
            return False
        batch_id = uuid.uuid4().hex[:16]
        requester = self.origin.get("requester") or self.origin.get("user")
        ttl = float(self.config.approval_ttl_s) if self.config.approval_ttl_s else None
        calls = [
            {
                "tool_call_id": tcid,
                "tool": name,
                "arguments": args,
                "args_hash": policy.args_hash(name, args),
                "approval_class": req.approval_class,
                "reason": req.reason,
                "estimated_cost_usd": req.estimated_cost_usd,
            }
            for tcid, name, args, req in gated
        ]
        await self.approvals.create_batch(self.id, batch_id, calls, requester, ttl)
        self.state["pending_batch"] = batch_id
        await self.commit()
        tools_payload = []
        for (tcid, name, args, req), call in zip(gated, calls, strict=True):
            entry = {
                "tool": name,
                "arguments": args,
                "tool_call_id": tcid,
                "args_hash": call["args_hash"],
                "approval_class": req.approval_class,
                "reason": req.reason,
                "estimated_cost_usd": req.estimated_cost_usd,
                "billable": req.billable,
                "destructive": req.destructive,
            }
            if req.blocked_reason:
                entry["auto_approval_blocked"] = True
                entry["block_reason"] = req.blocked_reason
            tools_payload.append(entry)
        await self.emit(
            EventType.APPROVAL_REQUIRED,
            {
                "tools": tools_payload,
                "count": len(tools_payload),
                "batch_id": batch_id,
                "requester": requester,
                "expires_at": (time.time() + ttl) if ttl else None,
                "remaining_budget_usd": policy.remaining_budget(self.state, self.config)
                if policy.yolo_enabled(self.state, self.config)
                else None,
            },
        )
        return True


def default_system_prompt(tool_names: list[str]) -> str:
    """Used only when the prompt module is unavailable (keeps the engine usable in tests)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        "You are ML Intern, an ML-engineering agent working with a team in Slack. Be concise. "
        f"Tools: {', '.join(tool_names)}. Today is {now}."
    )
