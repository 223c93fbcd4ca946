"""Files: the two-step upload slack_sdk's ``files_upload_v2`` performs, and downloads.

``files.getUploadURLExternal`` hands out an upload URL on this server; the bytes are POSTed
there without a token (as slack_sdk does); ``files.completeUploadExternal`` shares the files
into a channel or thread as one message. ``url_private`` downloads need the bot token, as in
Slack (a wrong or missing token gets the login redirect, not the file).

Inbound files (a person shares a file with the bot): :func:`share_user_file` stores it and
returns the file object to put in the event's ``files``; ``files.info`` answers for it (Slack
Connect events carry only the id), and every download is recorded as a ``files-pri`` call
(``args["authorized"]`` says whether the bot token came with it).
"""

from __future__ import annotations

import logging
import mimetypes
import time
from typing import Any

from aiohttp import web

from tests.fakes import slack_limits as limits
from tests.fakes.slack.faults import FaultPlan
from tests.fakes.slack.records import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    FakeFile,
    Message,
    SlackError,
)
from tests.fakes.slack.state import SlackState

log = logging.getLogger("fake_slack")


def files_get_upload_url_external(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    filename = args.get("filename")
    if not filename:
        raise SlackError("invalid_arguments", detail="filename is required")
    try:
        length = int(args.get("length"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SlackError("invalid_arguments", detail="length must be an integer") from None
    if length < 0:
        raise SlackError("invalid_arguments", detail="length must be >= 0")
    fid = state.new_id("F", 10)
    state.files[fid] = FakeFile(
        id=fid,
        filename=filename,
        length=length,
        alt_txt=args.get("alt_txt"),
        snippet_type=args.get("snippet_type"),
    )
    return {"upload_url": f"{state.origin}/upload/v1/{fid}", "file_id": fid}


def file_json(state: SlackState, f: FakeFile) -> dict[str, Any]:
    ext = f.filename.rsplit(".", 1)[-1].lower() if "." in f.filename else ""
    filetype = {"txt": "text", "log": "text", "py": "python", "md": "markdown"}.get(
        ext, ext or "binary"
    )
    mimetype = mimetypes.guess_type(f.filename)[0] or "text/plain"
    size = len(f.content) if f.content is not None else f.length
    channels = sorted({c for scope in f.shares.values() for c in scope})
    return {
        "id": f.id,
        "created": f.created,
        "timestamp": f.created,
        "name": f.filename,
        "title": f.title or f.filename,
        "mimetype": mimetype,
        "filetype": filetype,
        "pretty_type": filetype.capitalize(),
        "user": f.owner,
        "user_team": TEAM_ID,
        "editable": False,
        "size": size,
        "mode": f.mode,
        "is_external": False,
        "external_type": "",
        "is_public": any(c.startswith("C") for c in channels),
        "public_url_shared": False,
        "display_as_bot": False,
        "url_private": f"{state.origin}/files-pri/{TEAM_ID}-{f.id}/{f.filename}",
        "url_private_download": f"{state.origin}/files-pri/{TEAM_ID}-{f.id}/{f.filename}",
        "permalink": f"{state.origin}/files/{f.owner}/{f.id}/{f.filename}",
        "alt_txt": f.alt_txt,
        "comments_count": 0,
        "is_starred": False,
        "shares": f.shares,
        "channels": [c for c in channels if c.startswith("C")],
        "groups": [c for c in channels if c.startswith("G")],
        "ims": [c for c in channels if c.startswith("D")],
        "has_more_shares": False,
        "file_access": "visible",
    }


def files_complete_upload_external(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    files_arg = args.get("files")
    if not isinstance(files_arg, list) or not files_arg:
        raise SlackError("invalid_arguments", detail="files must be a non-empty JSON array")
    targets: list[str] = []
    if args.get("channel_id"):
        targets.append(args["channel_id"])
    if args.get("channels"):
        targets.extend(c.strip() for c in str(args["channels"]).split(",") if c.strip())
    if args.get("thread_ts") and len(targets) != 1:
        raise SlackError("invalid_arguments", detail="thread_ts needs exactly one channel")
    channels = [state.resolve_channel(c, write=True) for c in targets]
    picked: list[FakeFile] = []
    for item in files_arg:
        fid = item.get("id") if isinstance(item, dict) else None
        f = state.files.get(fid or "")
        if f is None:
            raise SlackError("file_not_found", detail=f"unknown file id {fid!r}")
        if not f.uploaded:
            raise SlackError("file_not_found", detail=f"{fid} was never POSTed to its upload_url")
        if f.completed:
            raise SlackError("file_not_found", detail=f"{fid} was already completed")
        f.title = item.get("title") or f.filename
        picked.append(f)
    comment = args.get("initial_comment")
    if isinstance(comment, str) and len(comment) > limits.MAX_TEXT_CHARS:
        raise SlackError("msg_too_long")
    for f in picked:
        f.completed = True
    for channel in channels:
        thread_ts = state.thread_root(channel, args.get("thread_ts"))
        ts = state.next_ts()
        scope = "public" if channel.startswith("C") else "private"
        for f in picked:
            share = {
                "ts": ts,
                "channel_name": channel.lower(),
                "team_id": TEAM_ID,
                "share_user_id": BOT_USER_ID,
            }
            if thread_ts:
                share["thread_ts"] = thread_ts
            f.shares.setdefault(scope, {}).setdefault(channel, []).append(share)
        blocks = (
            args.get("blocks") if not comment and isinstance(args.get("blocks"), list) else None
        )
        state.store_message(
            Message(
                channel=channel,
                ts=ts,
                text=comment or "",
                user=BOT_USER_ID,
                bot_id=BOT_ID,
                blocks=blocks,
                thread_ts=thread_ts,
                files=[file_json(state, f) for f in picked],
            )
        )
    return {"files": [{"id": f.id, "title": f.title} for f in picked]}


def files_info(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    f = state.files.get(str(args.get("file") or ""))
    if f is None or not f.completed:
        raise SlackError("file_not_found")
    return {"file": file_json(state, f), "comments": [], "response_metadata": {"next_cursor": ""}}


def share_user_file(
    state: SlackState,
    name: str,
    content: bytes,
    *,
    user: str = "U1",
    snippet: bool = False,
) -> dict[str, Any]:
    """A person uploads ``content`` (or pastes a snippet): returns the event's file object."""
    fid = state.new_id("F", 10)
    f = FakeFile(
        id=fid, filename=name, length=len(content), content=content, uploaded=True,
        completed=True, owner=user, mode="snippet" if snippet else "hosted",
    )  # fmt: skip
    state.files[fid] = f
    obj = file_json(state, f)
    if snippet or obj["mimetype"].startswith("text/"):
        lines = content.decode("utf-8", errors="replace").splitlines()
        obj.update(
            preview="\n".join(lines[:5]), lines=len(lines), lines_more=max(0, len(lines) - 5)
        )
    return obj


METHODS = {
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "files.info": files_info,
}


class FileTransfers:
    """The non-API file endpoints: the pre-signed upload URL and ``url_private`` downloads."""

    def __init__(self, state: SlackState, faults: FaultPlan, *, bot_token: str) -> None:
        self.state = state
        self.faults = faults
        self.bot_token = bot_token

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/{name}", self._handle_file_download)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        """The pre-signed upload URL: no Authorization (slack_sdk sends none), raw or multipart."""
        fid = request.match_info["file_id"]
        call = Call("upload_url", {"file_id": fid}, None, time.monotonic(), "POST")
        f = self.state.files.get(fid)
        if f is None:
            self.state.record_call(call, 404, "not_found")
            return web.Response(status=404, text="not_found")
        fault = self.faults.take("upload_url", call.args)
        if fault is not None:
            resp = self.faults.response(fault, api=False, method="upload_url")
            self.state.record_call(call, resp.status, resp.text)
            return resp
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field_ = form.get("file") or next(
                (v for v in form.values() if isinstance(v, web.FileField)), None
            )
            data = (
                field_.file.read()
                if isinstance(field_, web.FileField)
                else str(field_ or "").encode()
            )
            call.encoding = "multipart"
        else:
            data = await request.read()
            call.encoding = "raw"
        call.args.update(bytes=len(data), content_type=request.content_type)
        f.content = data
        f.uploaded = True
        if len(data) != f.length:
            log.warning("upload %s: %d bytes, declared length %d", fid, len(data), f.length)
            call.args["length_mismatch"] = True
        self.state.record_call(call, 200, f"OK - {len(data)}")
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_file_download(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        fid = request.match_info["team_file"].removeprefix(f"{TEAM_ID}-")
        authorized = auth == f"Bearer {self.bot_token}"
        call = Call(
            "files-pri", {"file": fid, "authorized": authorized}, None, time.monotonic(), "GET"
        )
        if not authorized:  # Slack: to the sign-in page (HTML, 200 once redirects are followed)
            self.state.record_call(call, 302, "login")
            return web.Response(
                status=302, headers={"Location": f"{self.state.origin}/?redir=login"}
            )
        f = self.state.files.get(fid)
        if f is None or f.content is None:
            self.state.record_call(call, 404, "file_not_found")
            return web.Response(status=404, text="file_not_found")
        self.state.record_call(call, 200, f"{len(f.content)} bytes")
        return web.Response(
            body=f.content, content_type=mimetypes.guess_type(f.filename)[0] or "text/plain"
        )
