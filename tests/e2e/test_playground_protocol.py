"""The playground's server on the wire, without a browser: who may drive the page, the Slack
rules its Web API enforces, the simulated Hub's and the demo model's own rules, and how
real/simulated is decided. The bot is not started here (the browser tests run it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.playground import Playground
from bot.playground.demo_model import API_KEY, next_step
from bot.playground.modes import detect_modes
from bot.playground.sim_hub import NAMESPACE, TOKEN, SimJob
from bot.playground.workspace import Message
from tests.engine_harness import make_config


@pytest.fixture
async def pg(tmp_path) -> AsyncIterator[Playground]:
    playground = Playground(make_config(), simulation=True, store_path=tmp_path / "pg.db")
    await playground.serve()
    try:
        yield playground
    finally:
        await playground.stop()


async def _api(pg: Playground, method: str, token: str | None, **args: object) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{pg.base_url}/api/{method}", json=args, headers=headers) as r:
            return await r.json()


# ---------------------------------------------------------------------- who may drive the page
async def test_page_actions_without_the_run_key_are_refused(pg: Playground) -> None:
    body = {"user": "U0ALICE", "channel": "C0MLTEAM", "text": "hi"}
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Playground-Key": "guessed"}):
            async with http.post(f"{pg.base_url}/ui/post", json=body, headers=headers) as r:
                assert r.status == 403
            async with http.get(f"{pg.base_url}/ui/state", headers=headers) as r:
                assert r.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(f"{pg.base_url}/ui/live?key=guessed")
    assert pg.ws.messages["C0MLTEAM"] == []


async def test_cross_site_page_cannot_click_approve_even_with_the_key(pg: Playground) -> None:
    """A hostile site in another tab posting to 127.0.0.1 is refused by its Origin."""
    headers = {"X-Playground-Key": pg.key, "Origin": "https://evil.example"}
    body = {"user": "U0BOB", "channel": "C0MLTEAM", "ts": "1.1", "action_id": "approve"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{pg.base_url}/ui/click", json=body, headers=headers) as r:
            assert r.status == 403
        own = {"X-Playground-Key": pg.key, "Origin": pg.base_url}
        async with http.get(f"{pg.base_url}/ui/state", headers=own) as r:
            assert r.status == 200
            state = await r.json()
    assert {n["kind"] for n in state["notices"]} == {"simulation"}


async def test_dns_rebinding_host_is_refused_even_with_the_key(pg: Playground) -> None:
    """evil.example re-resolved to 127.0.0.1: same-origin for the browser, wrong Host for us."""
    headers = {"X-Playground-Key": pg.key, "Host": f"evil.example:{pg.port}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{pg.base_url}/ui/state", headers=headers) as r:
            assert r.status == 403
        async with http.get(
            f"{pg.base_url}/ui/state", headers={**headers, "Host": f"localhost:{pg.port}"}
        ) as r:
            assert r.status == 200


async def test_page_action_while_the_bot_is_offline_says_so(pg: Playground) -> None:
    headers = {"X-Playground-Key": pg.key}
    body = {"user": "U0ALICE", "channel": "C0MLTEAM", "text": "<@U0INTERN> hi"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{pg.base_url}/ui/post", json=body, headers=headers) as r:
            assert r.status == 503
            assert (await r.json())["error"] == "bot_offline"


async def test_static_files_cannot_escape_the_package(pg: Playground) -> None:
    async with aiohttp.ClientSession() as http:
        for name in ("..%2Flaunch.py", "launch.py", ".hidden.js"):
            async with http.get(f"{pg.base_url}/static/{name}") as r:
                assert r.status == 404
        async with http.get(f"{pg.base_url}/") as r:
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


# ---------------------------------------------------------------------- Slack's rules
async def test_web_api_token_rules_are_slacks(pg: Playground) -> None:
    assert (await _api(pg, "auth.test", None))["error"] == "not_authed"
    assert (await _api(pg, "auth.test", "xoxb-wrong"))["error"] == "invalid_auth"
    assert (await _api(pg, "chat.postMessage", pg.app_token, channel="C0MLTEAM", text="x"))[
        "error"
    ] == "not_allowed_token_type"
    assert (await _api(pg, "apps.connections.open", pg.bot_token))["error"] == (
        "not_allowed_token_type"
    )
    opened = await _api(pg, "apps.connections.open", pg.app_token)
    assert opened["url"].startswith(f"ws://127.0.0.1:{pg.port}/link/")
    assert (await _api(pg, "chat.nope", pg.bot_token))["error"] == "unknown_method"
    auth = await _api(pg, "auth.test", pg.bot_token)
    assert auth["ok"] and auth["user_id"] and auth["bot_id"]


async def test_web_api_refuses_what_slack_refuses(pg: Playground) -> None:
    t = pg.bot_token
    human = pg.ws.add_message(Message("C0MLTEAM", pg.ws.next_ts(), "U0ALICE", "mine"))
    assert (await _api(pg, "chat.update", t, channel="C0MLTEAM", ts=human.ts, text="x"))[
        "error"
    ] == "cant_update_message"
    too_many = [{"type": "divider"}] * 51
    assert (await _api(pg, "chat.postMessage", t, channel="C0MLTEAM", blocks=too_many))[
        "error"
    ] == "invalid_blocks"
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    bad = await _api(pg, "chat.postMessage", t, channel="C0MLTEAM", blocks=long_section)
    assert bad["error"] == "invalid_blocks" and "3000" in json.dumps(bad)
    assert (await _api(pg, "chat.postMessage", t, channel="C0MLTEAM", text="x" * 40_001))[
        "error"
    ] == "msg_too_long"
    assert (await _api(pg, "chat.postMessage", t, channel="C0NOPE", text="x"))["error"] == (
        "channel_not_found"
    )
    assert (
        await _api(pg, "reactions.add", t, channel="C0MLTEAM", timestamp=human.ts, name="eyes")
    )["ok"]
    assert (
        await _api(pg, "reactions.add", t, channel="C0MLTEAM", timestamp=human.ts, name="eyes")
    )["error"] == "already_reacted"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    assert (await _api(pg, "views.open", t, trigger_id="made-up", view=view))["error"] == (
        "invalid_trigger_id"
    )
    trigger = pg.api.new_trigger("U0ALICE")
    assert (await _api(pg, "views.open", t, trigger_id=trigger, view=view))["ok"]
    assert (await _api(pg, "views.open", t, trigger_id=trigger, view=view))["error"] == (
        "invalid_trigger_id"
    )  # a trigger works once


async def test_bot_uploads_need_the_upload_step_and_downloads_need_the_bot_token(
    pg: Playground,
) -> None:
    t = pg.bot_token
    got = await _api(pg, "files.getUploadURLExternal", t, filename="train.py", length=5)
    files = [{"id": got["file_id"], "title": "train.py"}]
    never_uploaded = await _api(
        pg, "files.completeUploadExternal", t, files=files, channel_id="C0MLTEAM"
    )
    assert never_uploaded["error"] == "file_not_found"
    async with aiohttp.ClientSession() as http:
        async with http.post(got["upload_url"], data=b"print") as r:
            assert r.status == 200
    done = await _api(pg, "files.completeUploadExternal", t, files=files, channel_id="C0MLTEAM")
    assert done["ok"]
    url = pg.ws.file_json(pg.ws.files[got["file_id"]])["url_private_download"]
    async with aiohttp.ClientSession() as http:
        async with http.get(url, allow_redirects=False) as r:
            assert r.status == 302  # no token: Slack sends you to the login page
        async with http.get(url, headers={"Authorization": f"Bearer {t}"}) as r:
            assert await r.read() == b"print"
    people_file = pg.people.upload("U0ALICE", "data.csv", b"a,b\n")
    assert (await _api(pg, "files.delete", t, file=people_file.id))["error"] == "cant_delete_file"
    assert (await _api(pg, "files.delete", t, file=got["file_id"]))["ok"]
    assert not any(m.files for m in pg.ws.messages["C0MLTEAM"])  # the share lost its file


# ---------------------------------------------------------------------- the simulations' rules
async def test_simulated_hub_refuses_other_tokens_and_other_namespaces(pg: Playground) -> None:
    hub = f"{pg.base_url}/sim-hub/api"
    spec = {"dockerImage": "python:3.12", "command": ["python", "-c", "1"], "flavor": "t4-small"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{hub}/whoami-v2", headers={"Authorization": "Bearer hf_real"}) as r:
            assert r.status == 401
        ok = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(f"{hub}/jobs/someone-else", json=spec, headers=ok) as r:
            assert r.status == 403
        async with http.post(
            f"{hub}/jobs/{NAMESPACE}", json={**spec, "flavor": "x9"}, headers=ok
        ) as r:
            assert r.status == 400
        async with http.post(f"{hub}/jobs/{NAMESPACE}", json=spec, headers=ok) as r:
            job = await r.json()
        assert job["status"]["stage"] == "SCHEDULING" and job["owner"]["name"] == NAMESPACE
        async with http.get(f"{pg.base_url}/sim-hub/jobs/{NAMESPACE}/{job['id']}") as r:
            assert "SIMULATION" in await r.text()  # the job page never looks real
        async with http.get(f"{hub}/models?search=bert", headers=ok) as r:
            assert r.status == 404 and "set HF_TOKEN" in (await r.json())["error"]


def test_simulated_job_life_is_a_function_of_time() -> None:
    job = SimJob(
        "j", {}, created=100.0, lines=["a", "b", "c"], schedule_s=1.0, line_s=1.0, fails=False
    )
    assert [job.stage(t) for t in (100.5, 101.5, 103.9, 104.0)] == [
        "SCHEDULING", "RUNNING", "RUNNING", "COMPLETED",
    ]  # fmt: skip
    assert [text for _, text in job.visible_lines(102.5)] == ["a"]
    job.canceled_at = 102.5
    assert job.stage(110) == "CANCELED" and len(job.visible_lines(110)) == 1


async def test_demo_model_refuses_a_wrong_key(pg: Playground) -> None:
    url = f"{pg.base_url}/demo-llm/v1/chat/completions"
    body = {"model": "ml-intern-demo", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers={"Authorization": "Bearer sk-real"}) as r:
            assert r.status == 401
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {API_KEY}"}) as r:
            answer = await r.json()
    assert "demo model" in answer["choices"][0]["message"]["content"]


def test_demo_model_ignores_engine_nudges_when_finding_the_request() -> None:
    tools = [{"function": {"name": n}} for n in ("hf_jobs", "plan_tool", "research")]
    messages = [
        {"role": "user", "content": "fine-tune bert"},
        {"role": "user", "content": "[SYSTEM: CONTINUATION GUARD] finish your plan"},
    ]
    step = next_step({"messages": messages, "tools": tools})
    assert step["tool_calls"][0]["function"]["name"] == "research"


# ---------------------------------------------------------------------- real or simulated
def test_modes_follow_the_keys_that_are_set() -> None:
    none = detect_modes({})
    assert (none.model_real, none.hub_real) == (False, False)
    provider = detect_modes({"OPENAI_API_KEY": "sk-x"})
    assert (provider.model_real, provider.hub_real) == (True, False)
    local = detect_modes({"OPENAI_API_BASE": "http://127.0.0.1:8000/v1"})
    assert local.model_real
    hub = detect_modes({"HF_TOKEN": "hf_x"})
    assert (hub.model_real, hub.hub_real) == (True, True)
    forced = detect_modes({"HF_TOKEN": "hf_x", "OPENAI_API_KEY": "sk"}, force_simulation=True)
    assert (forced.model_real, forced.hub_real) == (False, False)
    texts = " ".join(n["text"] for n in forced.notices("m"))
    assert texts.count("SIMULATION") == 2


# ---------------------------------------------------------------------- the command
def test_without_slack_tokens_the_bot_points_to_the_playground(monkeypatch, capsys) -> None:
    from bot.cli import main

    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "no Slack tokens: run `ml-intern-slack playground` to try it locally" in err


def test_playground_refuses_bad_options(capsys) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["playground", "--no-browser", "--port", "70000"])
    assert exit_.value.code == 2
    assert "--port must be 0-65535" in capsys.readouterr().err


def test_playground_approver_decides_every_class_the_config_names() -> None:
    from bot.playground.launch import APPROVER, playground_config

    base = make_config(
        slack={"approvers": {"gpu_job": ["U0OTHER"]}, "allowed_channels": ["C0REAL"]}
    )
    config = playground_config(base, detect_modes({}), job_seconds=10)
    approvers = config.slack["approvers"]
    assert APPROVER in approvers["gpu_job"] and "U0OTHER" in approvers["gpu_job"]
    assert APPROVER in approvers["default"]
    assert config.slack["allowed_channels"] == []  # a real workspace's ids mean nothing here
    assert config.model_name == "openai/ml-intern-demo"


async def test_two_playgrounds_never_share_a_store(tmp_path) -> None:
    from bot.playground.launch import StoreInUse

    first = Playground(make_config(), simulation=True, store_path=tmp_path / "pg.db")
    second = Playground(make_config(), simulation=True, store_path=tmp_path / "pg.db")
    first._reset_store()
    try:
        (tmp_path / "pg.db").write_text("the first playground's data")
        with pytest.raises(StoreInUse, match="--store"):
            second._reset_store()
        assert (tmp_path / "pg.db").read_text() == "the first playground's data"
    finally:
        await first.stop()
    second._reset_store()  # free again once the first stopped
    await second.stop()


async def test_stopping_closes_open_pages_instead_of_waiting_for_them(tmp_path) -> None:
    """An open browser tab must not hold Ctrl-C for aiohttp's 60 s shutdown timeout."""
    playground = Playground(make_config(), simulation=True, store_path=tmp_path / "pg.db")
    await playground.serve()
    async with aiohttp.ClientSession() as http:
        ws_url = f"ws://127.0.0.1:{playground.port}/ui/live?key={playground.key}"
        async with http.ws_connect(ws_url) as live:
            first = await live.receive_json()
            assert first["type"] == "snapshot"
            closing_task = asyncio.ensure_future(live.receive())  # the page keeps listening
            await asyncio.wait_for(playground.stop(), 10)  # a hang detector, not a speed target
            closing = await closing_task
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert live.close_code == aiohttp.WSCloseCode.GOING_AWAY


@pytest.mark.parametrize(
    "said",
    [
        "here is my data\n\n(Attached files: reviews.csv)",
        "here is my data\n\n[File `reviews.csv` (csv, 41 B, 3 lines), saved in your workspace as `reviews.csv`]",
    ],
)
def test_demo_model_hears_about_a_shared_file_either_way(said: str) -> None:
    tools = [{"function": {"name": n}} for n in ("hf_jobs", "plan_tool", "research")]
    step = next_step({"messages": [{"role": "user", "content": said}], "tools": tools})
    assert "Got **reviews.csv**" in step["content"]
