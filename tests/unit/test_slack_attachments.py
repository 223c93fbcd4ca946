"""Files shared in Slack reach the model (bot.conversation.attachments, file_views).

The Slack file host is emulated with httpx's MockTransport (no sockets in the unit tier) and
enforces what Slack does: ``Authorization: Bearer xoxb-…`` required, otherwise a redirect to an
HTML sign-in page that answers 200. File objects come from the fixtures in tests/data/slack/.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.conversation.attachments import (
    MANIFEST,
    FileIntake,
    FileLimits,
    SlackFileDownloader,
    safe_name,
)
from bot.conversation.file_views import csv_schema, fence, jsonl_schema, notebook_cells
from tests import slack_payloads

TOKEN = "xoxb-test-token"


class FileHost:
    """Slack's file host: serves bytes by path to the bot token only."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[httpx.Request] = []

    def add(self, name: str, body: bytes, ctype: str = "text/plain", fid: str = "F1") -> dict:
        path = f"/files-pri/T1-{fid}/download/{name}"
        self.files[path] = (body, ctype)
        return {
            "id": fid,
            "name": name,
            "title": name,
            "mimetype": ctype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(body),
            "mode": "hosted",
            "url_private": f"https://files.slack.com{path.replace('/download', '')}",
            "url_private_download": f"https://files.slack.com{path}",
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/signin":
            return httpx.Response(200, html="<html>Sign in to Slack</html>")
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(302, headers={"location": "https://files.slack.com/signin"})
        body, ctype = self.files.get(request.url.path, (None, ""))
        if body is None:
            return httpx.Response(404, text="not found")
        return httpx.Response(200, content=body, headers={"content-type": ctype})

    def intake(self, token: str = TOKEN, **kw) -> FileIntake:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return FileIntake(SlackFileDownloader(token, http=http), **kw)


@pytest.fixture
def host() -> FileHost:
    return FileHost()


def small_csv(rows: int) -> bytes:
    lines = ["text,label,score"] + [f"review number {i},{i % 2},{i / 10}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def test_small_csv_is_inline_and_saved_with_the_bot_token(host, tmp_path):
    body = small_csv(80)
    assert 1_500 < len(body) < 4_000
    f = host.add("train.csv", body, "text/csv")
    out = await host.intake().ingest([f], tmp_path)
    assert (tmp_path / "train.csv").read_bytes() == body
    assert "[File `train.csv` (csv, " in out.text and "81 lines" in out.text
    assert body.decode() in out.text  # whole content, byte for byte
    assert host.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in out.text


async def test_large_csv_is_a_preview_with_schema_and_path(host, tmp_path):
    body = small_csv(12_000)
    assert len(body) > 300_000
    f = host.add("big.csv", body, "text/csv")
    out = await host.intake().ingest([f], tmp_path)
    assert (tmp_path / "big.csv").stat().st_size == len(body)
    assert "12001 lines" in out.text and "too large to show whole" in out.text
    assert "Schema: 3 columns: text (str), label (int), score (float)" in out.text
    assert "review number 0,0,0.0" in out.text and "review number 11999" not in out.text
    assert len(out.text) < 6_000


async def test_downloaded_once_even_when_shared_again(host, tmp_path):
    f = host.add("train.csv", small_csv(5), "text/csv")
    intake = host.intake()
    await intake.ingest([f], tmp_path)
    again = await intake.ingest([f], tmp_path)
    assert len(host.requests) == 1
    assert "train.csv" in again.text and not (tmp_path / "train (2).csv").exists()
    assert json.loads((tmp_path / MANIFEST).read_text())["F1"]["name"] == "train.csv"


async def test_same_name_from_another_file_does_not_overwrite(host, tmp_path):
    (tmp_path / "train.csv").write_text("the agent's own file")
    f = host.add("train.csv", b"a,b\n1,2\n", "text/csv")
    out = await host.intake().ingest([f], tmp_path)
    assert (tmp_path / "train.csv").read_text() == "the agent's own file"
    assert (tmp_path / "train (2).csv").read_bytes() == b"a,b\n1,2\n"
    assert "`train (2).csv`" in out.text


async def test_path_traversal_in_a_file_name_stays_in_the_workspace(host, tmp_path):
    """attack: a crafted name (../../.bashrc) must not write outside the workspace."""
    ws = tmp_path / "ws"
    f = host.add("x.sh", b"echo pwned\n")
    f["name"] = "../../.bashrc"
    out = await host.intake().ingest([f], ws)
    assert sorted(p.name for p in ws.iterdir() if p.name != MANIFEST) == ["bashrc"]
    assert not (tmp_path / ".bashrc").exists()
    assert "`bashrc`" in out.text


async def test_symlink_planted_under_the_name_is_not_followed(host, tmp_path):
    """attack: a symlink named like the upload must not redirect the write."""
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").symlink_to(outside)
    f = host.add("notes.txt", b"hello\n")
    await host.intake().ingest([f], ws)
    assert outside.read_text() == "keep"
    assert (ws / "notes (2).txt").read_text() == "hello\n"


async def test_wrong_token_gets_the_sign_in_page_which_is_an_error(host, tmp_path):
    f = host.add("train.csv", b"a,b\n", "text/csv")
    f["preview"] = "a,b"
    out = await host.intake(token="xoxb-wrong").ingest([f], tmp_path)
    assert "could not be downloaded" in out.text and "files:read" in out.text
    assert "Slack's preview of it" in out.text and "a,b" in out.text
    assert not (tmp_path / "train.csv").exists()
    assert out.notes and "xoxb" not in out.text
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".slack_files")] == []


async def test_image_is_described_and_kept(host, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000
    f = slack_payloads.event("bolt_file_share_png")["files"][0]
    f.update(
        size=len(png),
        url_private_download=host.add("file.png", png, "image/png")["url_private_download"],
    )
    out = await host.intake().ingest([f], tmp_path)
    assert (tmp_path / "file.png").read_bytes() == png
    assert out.text == (
        "[File `file.png` (PNG, 2.0 KB), saved in your workspace as `file.png`: an image, "
        "not shown here]"
    )


async def test_per_file_cap_skips_the_download_with_a_note(host, tmp_path):
    f = host.add("huge.parquet", b"x" * 10, "application/octet-stream")
    f["size"] = 3 * 1024**3
    out = await host.intake().ingest([f], tmp_path)
    assert host.requests == []
    assert "was not downloaded" in out.text and "per-file limit" in out.text


async def test_per_session_cap_counts_earlier_files(host, tmp_path):
    limits = FileLimits(max_session_bytes=1_000)
    intake = host.intake(limits=limits)
    await intake.ingest([host.add("a.txt", b"a" * 800, fid="FA")], tmp_path)
    out = await intake.ingest([host.add("b.txt", b"b" * 300, fid="FB")], tmp_path)
    assert "already use 800 bytes of the 1000 bytes limit" in out.text
    assert not (tmp_path / "b.txt").exists()


async def test_server_lying_about_size_is_cut_at_the_cap(host, tmp_path):
    """attack: a file whose declared size is small but whose body is not."""
    f = host.add("lie.txt", b"y" * 5_000)
    f["size"] = 10
    out = await host.intake(limits=FileLimits(max_file_bytes=1_000)).ingest([f], tmp_path)
    assert "larger than the 1000 bytes cap" in out.text
    assert not (tmp_path / "lie.txt").exists()


async def test_inline_budget_is_shared_by_a_message_files(host, tmp_path):
    limits = FileLimits(inline_bytes=1_000, inline_total_bytes=1_500)
    a = host.add("a.py", b"print(1)\n" * 100, fid="FA")  # 900 bytes
    b = host.add("b.py", b"print(2)\n" * 100, fid="FB")
    out = await host.intake(limits=limits).ingest([a, b], tmp_path)
    first, second = out.text.split("\n\n[File ")
    assert "```python\nprint(1)" in first and "read it with your tools" not in first
    assert "inline budget is used up" in second


async def test_notebook_is_shown_as_cells(host, tmp_path):
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Train\n"]},
            {
                "cell_type": "code",
                "source": ["import torch\n", "print(torch.__version__)"],
                "outputs": [{"text": "2.4" * 1000}],
            },
        ],
        "metadata": {"language_info": {"name": "python"}},
    }
    f = host.add("train.ipynb", json.dumps(nb).encode(), "application/json")
    out = await host.intake().ingest([f], tmp_path)
    assert "# cell 1 (markdown)\n# Train" in out.text
    assert "# cell 2 (code)\n```python\nimport torch\nprint(torch.__version__)\n```" in out.text
    assert "2.42.4" not in out.text


async def test_a_notebook_heavy_with_outputs_still_shows_its_cells(host, tmp_path):
    nb = {
        "cells": [
            {"cell_type": "code", "source": "model.fit(x, y)", "outputs": [{"text": "x" * 200_000}]}
        ]
    }
    f = host.add("big.ipynb", json.dumps(nb).encode(), "application/json")
    out = await host.intake().ingest([f], tmp_path)
    assert "```python\nmodel.fit(x, y)\n```" in out.text and "xxxx" not in out.text


async def test_a_gzipped_csv_gets_a_decompressed_preview(host, tmp_path):
    import gzip

    body = gzip.compress(small_csv(5_000))
    f = host.add("reviews.csv.gz", body, "application/gzip")
    out = await host.intake().ingest([f], tmp_path)
    assert (tmp_path / "reviews.csv.gz").read_bytes() == body
    assert "gzipped" in out.text and "Schema: 3 columns: text (str), label (int)" in out.text
    assert "```csv\ntext,label,score\nreview number 0,0,0.0" in out.text


async def test_a_fake_gzip_is_not_a_crash(host, tmp_path):
    """attack: a file named .csv.gz that is not gzip."""
    f = host.add("x.csv.gz", b"not gzip at all", "application/gzip")
    out = await host.intake().ingest([f], tmp_path)
    assert "[File `x.csv.gz`" in out.text and "gzipped" in out.text


async def test_slack_connect_file_is_looked_up_with_files_info(host, tmp_path):
    ev = slack_payloads.event("slackweb_message_file_share_slack_connect")
    stub = ev["files"][0]
    full = host.add("shared.yaml", b"lr: 0.001\n", "text/yaml", fid=stub["id"])
    asked = []

    async def files_info(fid: str) -> dict:
        asked.append(fid)
        return full

    out = await host.intake(files_info=files_info).ingest([stub], tmp_path)
    assert asked == ["F12345678"]
    assert "```yaml\nlr: 0.001\n```" in out.text


async def test_slack_connect_file_without_access_is_a_note(host, tmp_path):
    from slack_sdk.errors import SlackApiError

    async def files_info(fid: str) -> dict:
        raise SlackApiError("no", {"ok": False, "error": "file_not_found"})

    stub = slack_payloads.event("slackweb_message_file_share_slack_connect")["files"][0]
    out = await host.intake(files_info=files_info).ingest([stub], tmp_path)
    assert "another organisation (F12345678) could not be read: file_not_found" in out.text


async def test_deleted_and_external_files_get_notes(host, tmp_path):
    files = [
        {"id": "F9", "mode": "tombstone"},
        {
            "id": "F8",
            "name": "plan",
            "mode": "external",
            "is_external": True,
            "external_type": "gdrive",
            "url_private": "https://docs.google.com/x",
        },
    ]
    out = await host.intake().ingest(files, tmp_path)
    assert "[A shared file (F9) has been deleted in Slack]" in out.text
    assert (
        "[An gdrive file shared by link, not downloaded: plan https://docs.google.com/x]"
        in out.text
    )
    assert host.requests == []


async def test_documented_snippet_is_downloaded(host, tmp_path):
    f = slack_payloads.event("slackweb_message_file_share")["files"][0]
    f["url_private_download"] = host.add("namenamename.txt", b"hug a kitten")[
        "url_private_download"
    ]
    out = await host.intake().ingest([f], tmp_path)
    assert "[File `namenamename.txt` (Plain Text, 12 bytes, 1 lines)" in out.text
    assert "```\nhug a kitten\n```" in out.text


async def test_a_file_link_off_slack_never_gets_the_bot_token(host, tmp_path):
    """attack: a file object whose download URL points at another host."""
    f = host.add("train.csv", b"a,b\n", "text/csv")
    f["url_private_download"] = "https://attacker.example/steal/train.csv"
    out = await host.intake().ingest([f], tmp_path)
    assert host.requests == []
    assert "does not point to Slack" in out.text


def test_trusted_hosts():
    d = SlackFileDownloader("xoxb-x", extra_hosts=("127.0.0.1",))
    assert d.trusted("https://files.slack.com/files-pri/T1-F1/x.csv")
    assert d.trusted("http://127.0.0.1:8000/files-pri/T1-F1/x.csv")
    assert not d.trusted("http://files.slack.com/x")  # no token over plain http
    assert not d.trusted("https://files.slack.com.evil.example/x")
    assert not d.trusted("https://evilslack.com/x")


def test_safe_names():
    assert safe_name("data/train.csv", "F1") == "train.csv"
    assert safe_name("..", "F1", "csv") == "slack-file-F1.csv"
    assert safe_name(None, "F2") == "slack-file-F2"
    assert safe_name("a\x00b<c>.txt", "F3") == "a_b_c_.txt"
    assert len(safe_name("x" * 300 + ".csv", "F4")) <= 120


def test_fence_cannot_be_closed_by_file_content():
    """attack: a file containing ``` must not end the code block early."""
    assert fence("a\n```\nb") == "````\na\n```\nb\n````"


def test_schemas():
    assert jsonl_schema('{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n{"a"') == (
        "keys (first 2 records): a (int), b (null/str)"
    )
    assert csv_schema("a\tb\n1\tx\n", "\t") == "2 columns: a (int), b (str)"
    assert notebook_cells("not json") is None


def test_fixture_sources_are_recorded():
    for name in slack_payloads.names():
        assert slack_payloads.source(name), name
    assert Path(slack_payloads.DATA).is_dir()


async def test_a_shared_file_is_where_the_workspace_tools_look(host, tmp_path):
    """The intake saves into session_workspace(); the read tool (and hf_jobs / the Hub upload,
    which resolve paths the same way) finds the file by its name."""
    from agent_core.tools.base import session_workspace
    from agent_core.tools.workspace import read_handler
    from tests.tool_harness import make_harness

    sid = "slack:T1:C1:1700000000.000100"
    f = host.add("train.csv", b"text,label\nok,1\n", "text/csv")
    await host.intake().ingest([f], session_workspace(tmp_path, sid))
    out, ok = await read_handler({"path": "train.csv"}, make_harness(tmp_path, session_id=sid).ctx)
    assert ok and "ok,1" in out
