"""Files people share with the bot: downloaded once, kept in the session's workspace, shown
to the model.

"Here's my data / my script" is the most common ML request, so a file in a mention or a
follow-up is fetched from ``url_private_download`` with the bot token (scope ``files:read``),
saved in the session's workspace under its own (sanitised, non-colliding) name — where the
workspace tools, ``hf_jobs`` and the approval-gated Hub upload can use it — and described:

* a small text file (CSV, JSON/JSONL, .py, .yaml, logs, …) inline, a notebook as its cells;
* a large one as a preview (first lines, CSV/JSONL schema, line count) plus its path;
* a binary or an image by name, type and size (kept, not shown);
* over the per-file or per-session size cap: not downloaded, with a note saying so.

Slack's odd cases are handled rather than dropped: Slack Connect files arrive as bare ids
(``file_access: check_file_info``) and are looked up with ``files.info``; deleted files
(``tombstone``), external files (Google Drive…) and plan-hidden files get a note; a snippet
whose download fails still shows Slack's ``preview``. A download answered with an HTML sign-in
page (what Slack does without a valid token or scope) is an error, never "the file".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from slack_sdk.errors import SlackApiError

from .file_views import describe_file, extension, fence, human_size

if TYPE_CHECKING:
    from bot.settings import FileSettings

log = logging.getLogger(__name__)

MANIFEST = ".slack_files.json"  # file id → saved name and size: "downloaded once", budgets
DOWNLOAD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class FileLimits:
    """Size caps (bytes). Configurable under ``slack.files`` (see bot.settings)."""

    inline_bytes: int = 24 * 1024  # a text file up to this size is shown whole
    inline_total_bytes: int = 32 * 1024  # per message, across its files
    preview_lines: int = 20
    preview_chars: int = 4_000
    max_file_bytes: int = 512 * 1024 * 1024
    max_session_bytes: int = 2 * 1024 * 1024 * 1024


class DownloadError(Exception):
    """A file could not be fetched; the message is safe to show (never contains the token)."""


@dataclass
class SavedFile:
    file_id: str
    name: str  # the name in the workspace (relative)
    size: int
    mimetype: str


@dataclass
class Ingested:
    """What the model is shown for a message's files, and what was saved."""

    text: str = ""
    saved: list[SavedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # problems worth telling the user


FilesInfo = Callable[[str], Awaitable[dict[str, Any]]]


SLACK_FILE_HOSTS = ("slack.com", "slack-gov.com", "slack-edge.com")


class SlackFileDownloader:
    """Streams ``url_private_download`` to disk with the bot token, within a size cap.

    The token goes only to Slack's own hosts (and the configured API host, e.g. a local
    emulator): a file object pointing elsewhere is refused rather than handed the token.
    httpx drops the ``Authorization`` header on a redirect to another origin.
    """

    def __init__(
        self,
        token: str,
        *,
        http: httpx.AsyncClient | None = None,
        extra_hosts: tuple[str, ...] = (),
    ) -> None:
        self._token = token
        self._http = http
        self._extra_hosts = {h.lower() for h in extra_hosts if h}

    def trusted(self, url: str) -> bool:
        parsed = httpx.URL(url)
        host = (parsed.host or "").lower()
        if host in self._extra_hosts:
            return True
        return parsed.scheme == "https" and any(
            host == h or host.endswith("." + h) for h in SLACK_FILE_HOSTS
        )

    async def fetch(self, url: str, dest: Path, *, max_bytes: int, expect_html: bool) -> int:
        if not self.trusted(url):
            raise DownloadError("its link does not point to Slack, so it was not fetched")
        headers = {"Authorization": f"Bearer {self._token}"}
        owned = self._http is None
        http = self._http or httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_S)
        try:
            async with http.stream("GET", url, headers=headers, follow_redirects=True) as resp:
                if resp.status_code != 200:
                    raise DownloadError(f"Slack answered HTTP {resp.status_code}")
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype == "text/html" and not expect_html:
                    raise DownloadError(
                        "Slack sent a sign-in page instead of the file (the app needs the "
                        "files:read scope: reinstall it from manifest.yml)"
                    )
                declared = int(resp.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise DownloadError(f"it is larger than the {human_size(max_bytes)} cap")
                written = 0
                with dest.open("wb") as fh:
                    async for chunk in resp.aiter_bytes():
                        written += len(chunk)
                        if written > max_bytes:
                            raise DownloadError(
                                f"it is larger than the {human_size(max_bytes)} cap"
                            )
                        fh.write(chunk)
                return written
        except httpx.HTTPError as exc:
            raise DownloadError(f"the download failed ({type(exc).__name__})") from None
        finally:
            if owned:
                await http.aclose()


# --------------------------------------------------------------------------- names on disk
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|`]+")


def safe_name(raw: str | None, file_id: str, filetype: str = "") -> str:
    """A file name that stays a plain name in the workspace (no path, no hidden file)."""
    name = unicodedata.normalize("NFC", str(raw or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if not name or name in (".", ".."):
        ext = f".{filetype}" if filetype and filetype.isalnum() else ""
        name = f"slack-file-{file_id}{ext}"
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 110 - len(ext)] + dot + ext) if dot and len(ext) < 10 else name[:120]
    return name


def _free_name(workspace: Path, name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 1
    while os.path.lexists(workspace / candidate):
        n += 1
        candidate = f"{stem} ({n}).{ext}" if dot else f"{stem} ({n})"
    return candidate


def _read_manifest(workspace: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((workspace / MANIFEST).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_manifest(workspace: Path, data: dict[str, dict[str, Any]]) -> None:
    fd, tmp = tempfile.mkstemp(dir=workspace, prefix=".slack_files.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, workspace / MANIFEST)


# --------------------------------------------------------------------------- ingestion
class FileIntake:
    """Downloads and describes a message's files for one session workspace."""

    def __init__(
        self,
        downloader: SlackFileDownloader,
        *,
        limits: FileLimits | None = None,
        files_info: FilesInfo | None = None,
    ) -> None:
        self.downloader = downloader
        self.limits = limits or FileLimits()
        self.files_info = files_info

    async def ingest(self, files: list[dict[str, Any]], workspace: Path) -> Ingested:
        workspace.mkdir(parents=True, exist_ok=True)
        manifest = _read_manifest(workspace)
        out = Ingested()
        inline_left = self.limits.inline_total_bytes
        parts: list[str] = []
        for raw in files:
            if not isinstance(raw, dict):
                continue
            f = await self._complete(raw, out)
            if f is None:
                continue
            note = self._unavailable(f)
            if note:
                parts.append(note)
                continue
            saved, problem = await self._save(f, workspace, manifest)
            if saved is None:
                parts.append(problem or "")
                out.notes.append(problem or "")
                continue
            out.saved.append(saved)
            kind = str(f.get("pretty_type") or f.get("filetype") or saved.mimetype or "file")
            text, used = await asyncio.to_thread(
                describe_file,
                workspace / saved.name,
                kind=kind,
                mimetype=saved.mimetype,
                inline_bytes=min(self.limits.inline_bytes, inline_left),
                preview_lines=self.limits.preview_lines,
                preview_chars=self.limits.preview_chars,
                budget_used_up=saved.size <= self.limits.inline_bytes,  # (when not shown whole)
            )
            inline_left -= used
            parts.append(text)
        out.text = "\n\n".join(p for p in parts if p)
        return out

    async def _complete(self, f: dict[str, Any], out: Ingested) -> dict[str, Any] | None:
        """Slack Connect files arrive as bare ids: ``files.info`` has the rest."""
        if f.get("file_access") != "check_file_info" and (f.get("url_private") or f.get("mode")):
            return f
        fid = str(f.get("id") or "")
        if self.files_info is None or not fid:
            out.notes.append(f"A shared file ({fid or 'no id'}) could not be looked up.")
            return None
        try:
            info = await self.files_info(fid)
        except Exception as exc:
            err = exc.response.get("error") if isinstance(exc, SlackApiError) else None
            note = (
                f"[A file shared from another organisation ({fid}) could not be read: "
                f"{err or type(exc).__name__}]"
            )
            out.notes.append(note)
            return {"id": fid, "mode": "unreadable", "_note": note}
        return {**f, **info, "file_access": info.get("file_access") or "visible"}

    def _unavailable(self, f: dict[str, Any]) -> str | None:
        title = f.get("name") or f.get("title") or f.get("id") or "a file"
        mode = f.get("mode")
        if f.get("_note"):
            return str(f["_note"])
        if mode == "tombstone":
            return f"[A shared file ({title}) has been deleted in Slack]"
        if mode == "hidden_by_limit":
            return f"[A shared file ({title}) is hidden by the workspace's plan limits]"
        if f.get("is_external") or mode == "external":
            link = f.get("url_private") or f.get("permalink") or ""
            kind = f.get("external_type") or "external"
            return f"[An {kind} file shared by link, not downloaded: {title} {link}]".rstrip()
        if not (f.get("url_private_download") or f.get("url_private")):
            return f"[A shared file ({title}) has no download link]"
        return None

    async def _save(
        self, f: dict[str, Any], workspace: Path, manifest: dict[str, dict[str, Any]]
    ) -> tuple[SavedFile | None, str | None]:
        fid = str(f.get("id") or "")
        mimetype = str(f.get("mimetype") or "")
        known = manifest.get(fid)
        if known and (workspace / str(known.get("name"))).is_file():
            return SavedFile(fid, str(known["name"]), int(known.get("size") or 0), mimetype), None
        label = safe_name(f.get("name") or f.get("title"), fid, str(f.get("filetype") or ""))
        size = int(f.get("size") or 0)
        used = sum(int(v.get("size") or 0) for v in manifest.values())
        room = min(self.limits.max_file_bytes, self.limits.max_session_bytes - used)
        if size > self.limits.max_file_bytes:
            return None, (
                f"[File `{label}` ({human_size(size)}) was not downloaded: it is larger than the "
                f"{human_size(self.limits.max_file_bytes)} per-file limit. Ask for it on the Hub "
                "or as a URL instead.]"
            )
        if size > room or room <= 0:
            return None, (
                f"[File `{label}` ({human_size(size)}) was not downloaded: this session's files "
                f"already use {human_size(used)} of the {human_size(self.limits.max_session_bytes)}"
                " limit.]"
            )
        url = str(f.get("url_private_download") or f.get("url_private"))
        fd, tmp_name = tempfile.mkstemp(dir=workspace, prefix=".download.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            got = await self.downloader.fetch(
                url, tmp, max_bytes=room, expect_html=extension(label) in ("html", "htm")
            )
            name = _free_name(workspace, label)
            os.replace(tmp, workspace / name)
        except DownloadError as exc:
            fallback = f.get("preview")
            note = f"[File `{label}` could not be downloaded: {exc}.]"
            if isinstance(fallback, str) and fallback:
                note += f"\nSlack's preview of it:\n{fence(fallback)}"
            return None, note
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        manifest[fid] = {"name": name, "size": got, "slack_name": f.get("name")}
        _write_manifest(workspace, manifest)
        return SavedFile(fid, name, got, mimetype), None


def file_intake(settings: FileSettings, client: Any) -> FileIntake | None:
    """The intake for the bot's client: downloads with its token; Slack Connect stubs resolved
    with ``files.info``. None when file access is switched off (``slack.files.enabled``)."""
    token = getattr(client, "token", None)
    if not settings.enabled or not token:
        return None

    async def files_info(file_id: str) -> dict[str, Any]:
        return dict((await client.files_info(file=file_id)).get("file") or {})

    limits = FileLimits(
        inline_bytes=settings.inline_kb * 1024,
        inline_total_bytes=settings.inline_total_kb * 1024,
        preview_lines=settings.preview_lines,
        max_file_bytes=settings.max_file_mb * 1024 * 1024,
        max_session_bytes=settings.max_session_mb * 1024 * 1024,
    )
    api_host = httpx.URL(str(getattr(client, "base_url", "") or "https://slack.com/")).host
    downloader = SlackFileDownloader(token, extra_hosts=(api_host,) if api_host else ())
    return FileIntake(downloader, limits=limits, files_info=files_info)
