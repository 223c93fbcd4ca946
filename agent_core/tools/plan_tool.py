"""``plan_tool``: the agent's todo list, per session (upstream kept a module-global copy).

The plan drives the continuation guard: a text-only reply while items are unfinished gets a
nudge instead of ending the turn.
"""

from __future__ import annotations

from typing import Any

from .base import Services, ToolContext, ToolSpec

STATUSES = ("pending", "in_progress", "completed")
_MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "todos": {
            "type": "array",
            "description": "The whole plan; each call replaces the previous one.",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "content": {"type": "string"},
                    "status": {"type": "string", "enum": list(STATUSES)},
                },
                "required": ["id", "content", "status"],
            },
        }
    },
    "required": ["todos"],
}


def validate_todos(raw: Any) -> tuple[list[dict[str, str]] | None, str | None]:
    if not isinstance(raw, list):
        return None, "'todos' must be a list of {id, content, status} objects"
    todos: list[dict[str, str]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            return None, f"todos[{i}] must be an object"
        content = str(item.get("content") or "").strip()
        status = str(item.get("status") or "").strip()
        if not content:
            return None, f"todos[{i}].content must not be empty"
        if status not in STATUSES:
            return None, f"todos[{i}].status must be one of {', '.join(STATUSES)}"
        todos.append({"id": str(item.get("id") or i + 1), "content": content, "status": status})
    return todos, None


def render_plan(todos: list[dict[str, str]]) -> str:
    if not todos:
        return "Plan is empty."
    return "\n".join(f"{_MARK[t['status']]} {t['id']}. {t['content']}" for t in todos)


def unfinished(todos: list[dict[str, str]] | None) -> list[dict[str, str]]:
    return [t for t in todos or [] if t.get("status") in ("pending", "in_progress")]


async def plan_handler(args: dict[str, Any], ctx: ToolContext) -> tuple[str, bool]:
    todos, error = validate_todos(args.get("todos"))
    if error:
        return f"ERROR: {error}. Call plan_tool again with a valid plan.", False
    assert todos is not None
    ctx.session_state["plan"] = todos
    await ctx.emit("plan_update", {"plan": todos})
    return "Plan updated:\n" + render_plan(todos), True


def tools(services: Services) -> list[ToolSpec]:
    return [
        ToolSpec(
            name="plan_tool",
            description=(
                "Create or update your task plan (a todo list). Use it for multi-step work; "
                "keep exactly one item in_progress and mark items completed as you finish them."
            ),
            parameters=PARAMETERS,
            handler=plan_handler,
            # Not read-only: it replaces the session's plan. Marked read-only it was offered to
            # the research sub-agent, which could overwrite the main agent's plan.
            read_only=False,
        )
    ]
