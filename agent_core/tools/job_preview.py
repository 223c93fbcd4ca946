"""What an ``hf_jobs`` run will execute, fixed before a person is asked and shown in full.

The approval card is the product's safety promise, and a card that shows a script's *name*
promises nothing: a URL script was fetched at run time (after the click, so its owner could
change it in between) and a workspace file could be edited between card and run. So, before
the approval batch is created, :func:`prepare_job_call` *pins* the script: a URL or a
workspace file is read now, and the call's arguments carry the content itself with its sha256
(``script_sha256``) and where it came from (``script_source``). The approval binds to the hash
of those arguments, and :func:`pinned_script` refuses to run content whose hash is not the one
shown. :func:`job_preview` is the card's description of exactly what will run.
"""

from __future__ import annotations

from typing import Any

from .. import pricing
from ..hub import HubError
from ..policy import job_flavor, job_timeout, normalize_operation
from ..redact import scrub, scrub_text
from .base import PreparedCall, ToolContext, sha256_text
from .http_util import URLRefused, check_url_target, get_bounded, origin, same_origin
from .trackio_dashboard import pin_dashboard, trackio_env

RUN_OPERATIONS = ("run", "uv", "scheduled run", "scheduled uv")
MAX_SCRIPT_BYTES = 400_000
TOKEN_NOTICE = "receives your HF token as the secret HF_TOKEN (write access to your repos)"


def pinned_script(args: dict[str, Any]) -> str | None:
    """The pinned script content of a prepared call (checked against its hash), or None when the
    call was not pinned. Raises HubError when the content is not the one that was shown."""
    digest = args.get("script_sha256")
    if not digest:
        return None
    script = args.get("script")
    if not isinstance(script, str) or sha256_text(script) != digest:
        raise HubError(
            "the script is not the one shown on the approval card (sha256 mismatch); "
            "nothing was run — submit it again to get a new approval",
            kind="bad_request",
        )
    return script


async def _fetch_script(ctx: ToolContext, url: str) -> str:
    hub = ctx.services.hub
    on_hub = hub is not None and same_origin(url, hub.endpoint)
    client = hub.http if hub is not None else ctx.services.http
    if client is None:
        raise HubError(f"cannot fetch {url}: no HTTP client configured", kind="bad_request")
    allowed = {origin(hub.endpoint)} if hub is not None else set()
    try:  # a model-named URL may not point into the bot's network (cloud metadata, loopback)
        await check_url_target(url, allowed)
    except URLRefused as exc:
        raise HubError(f"script URL refused: {exc}", kind="bad_request") from exc
    resp = await get_bounded(
        client,
        url,
        credential_headers=hub.auth_headers() if on_hub else None,
        credential_origin=hub.endpoint if on_hub else None,
        max_bytes=MAX_SCRIPT_BYTES + 1,
    )
    if resp.status_code >= 400:
        raise HubError(
            f"could not fetch the script {url}: HTTP {resp.status_code}", kind="bad_request"
        )
    if resp.truncated or len(resp.content) > MAX_SCRIPT_BYTES:
        raise HubError(
            f"the script at {url} is over {MAX_SCRIPT_BYTES:,} bytes", kind="bad_request"
        )
    return resp.text


async def pin_script(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """The arguments with a URL or workspace-file script replaced by its content + sha256."""
    script = args.get("script")
    if not isinstance(script, str) or not script.strip():
        return args
    if args.get("script_sha256") and args["script_sha256"] == sha256_text(script):
        return args  # already pinned (a call prepared before a restart)
    from .job_command import is_url, looks_like_path  # job_command builds on this module
    from .workspace import read_workspace_text, resolve_workspace_path

    if not looks_like_path(script) and not is_url(script):
        content, source = script, "inline"
    elif is_url(script):
        content, source = await _fetch_script(ctx, script.strip()), script.strip()
    else:
        sandboxes = ctx.services.sandboxes
        in_sandbox = (
            await sandboxes.fetch_file(ctx.session_id, script.strip())
            if sandboxes is not None and sandboxes.active(ctx.session_id) is not None
            else None
        )
        if in_sandbox is not None:  # the script the agent wrote and tested in its sandbox
            content, source = in_sandbox, f"sandbox:{script.strip()}"
        else:
            try:
                path = resolve_workspace_path(ctx, script)
                content = read_workspace_text(path)
            except (ValueError, OSError) as exc:
                raise HubError(f"script: {exc}", kind="bad_request") from exc
            source = f"workspace:{script}"
    # Pinned as stored: approval arguments are scrubbed at rest, so a literal secret in the
    # script is replaced before hashing (the card, the store and the job then agree).
    content = scrub_text(content)
    if len(content.encode("utf-8")) > MAX_SCRIPT_BYTES:
        raise HubError(f"script '{script}' is over {MAX_SCRIPT_BYTES:,} bytes", kind="bad_request")
    return {
        **args,
        "script": content,
        "script_source": source,
        "script_sha256": sha256_text(content),
    }


def _user_env(args: dict[str, Any]) -> dict[str, str]:
    env = args.get("env")
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


def job_preview(args: dict[str, Any], config: Any) -> dict[str, Any]:
    """Everything the card must show about a run: nothing that will run is left out.

    ``env`` values are shown (an injected ``UV_INDEX_URL`` must be visible) after the secret
    scrubber, so a value that is a secret appears as ``[REDACTED]``; the HF token is named, never
    shown. The timeout is the exact one that will be submitted.
    """
    from .job_command import DOCKER_IMAGE, UV_IMAGE  # job_command builds on this module

    script = args.get("script") if isinstance(args.get("script"), str) else None
    raw_timeout = job_timeout(args, config)
    seconds = pricing.job_timeout_seconds(raw_timeout)
    flavor = job_flavor(args, config)
    preview: dict[str, Any] = {
        "kind": "hf_job",
        "operation": normalize_operation(args),
        "image": str(args.get("image") or (UV_IMAGE if script else DOCKER_IMAGE)),
        "flavor": flavor,
        "timeout": str(raw_timeout),
        "timeout_s": seconds,
        "estimated_cost_usd": pricing.estimate_job_cost(flavor, raw_timeout),
        "env": scrub({**_user_env(args), **trackio_env(args)}),  # as job_command.job_env merges
        "secrets": ["HF_TOKEN"],
        "token_notice": TOKEN_NOTICE,
    }
    if args.get("schedule"):
        preview["schedule"] = str(args["schedule"])
    if script is not None:
        preview.update(
            script=scrub(script),
            script_sha256=args.get("script_sha256") or sha256_text(script),
            script_source=args.get("script_source") or "inline",
            script_args=[str(a) for a in args.get("script_args") or []],
            dependencies=[str(d) for d in args.get("dependencies") or []],
            python=args.get("python"),
        )
    else:
        command = [str(c) for c in args.get("command") or []]
        preview["command"] = scrub(command)
        preview["command_sha256"] = sha256_text("\0".join(command))
    return preview


async def prepare_job_call(args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
    """Pin and describe a gated ``hf_jobs`` call (runs, scheduled runs); others pass through."""
    if normalize_operation(args) not in RUN_OPERATIONS:
        return PreparedCall(args, None)
    pinned = await pin_script(args, ctx)
    if normalize_operation(args) in ("run", "uv"):
        pinned = await pin_dashboard(pinned, ctx)
    return PreparedCall(pinned, job_preview(pinned, ctx.config))
