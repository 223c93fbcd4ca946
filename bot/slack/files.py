"""Files in threads: long answers, full scripts. Always through the sender (scrubbed, queued).

``files_upload_v2`` (getUploadURLExternal → upload → completeUploadExternal) replaced the
sunset ``files.upload``; it needs the ``files:write`` scope.
"""

from __future__ import annotations

from typing import Any

from bot.slack.sender import NORMAL, SlackSender


async def upload_text(
    sender: SlackSender,
    *,
    channel: str,
    thread_ts: str,
    filename: str,
    content: str | bytes,
    title: str | None = None,
    initial_comment: str | None = None,
    priority: int = NORMAL,
) -> str | None:
    """Share ``content`` (text, or bytes such as a PNG) as a file in the thread; returns the
    file id (None if unknown)."""
    kwargs: dict[str, Any] = {
        "channel": channel,
        "thread_ts": thread_ts,
        "filename": filename,
        # Text goes as ``content``; bytes (a PNG) as ``file`` — files_upload_v2 takes either.
        ("file" if isinstance(content, bytes) else "content"): content,
        "title": title or filename,
    }
    if initial_comment:
        kwargs["initial_comment"] = initial_comment
    data = await sender.call(channel, "files_upload_v2", priority=priority, **kwargs)
    files = (data or {}).get("files") if isinstance(data, dict) else None
    if files and isinstance(files, list) and isinstance(files[0], dict):
        return files[0].get("id")
    file_ = (data or {}).get("file") if isinstance(data, dict) else None
    return file_.get("id") if isinstance(file_, dict) else None
