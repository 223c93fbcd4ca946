"""The prompt's session context against the fake Hub: the HF account comes from the Hub
client's cached whoami only — the first render makes no request and leaves the account out,
a background lookup fills the cache, later renders name the user and orgs — and a failing
or missing Hub never breaks the prompt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from agent_core.config import Config
from agent_core.hub import HubClient
from agent_core.prompts import system_prompt_renderer
from agent_core.prompts.session_context import IdentitySource, resolve_timezone
from tests.fakes.fake_hub import ALICE_TOKEN, FakeHub


def whoami_calls(hub: FakeHub) -> int:
    return sum(1 for r in hub.requests if r.path == "/api/whoami-v2")


async def wait_until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_first_render_makes_no_request_then_names_account():
    async with FakeHub() as fake:
        client = HubClient(endpoint=fake.url, token=ALICE_TOKEN)
        identity = IdentitySource(lambda: client)
        render = system_prompt_renderer(timezone="Europe/Paris", identity=identity)
        first = render(["hf_jobs"])
        assert whoami_calls(fake) == 0  # nothing on the first-ack path
        assert "Hugging Face account" not in first
        assert "timezone Europe/Paris (UTC+0" in first
        await wait_until(lambda: client.cached_identity() is not None)
        second = render(["hf_jobs"])
        assert "Hugging Face account: `alice` (orgs: `acme-ml`)" in second
        render(["hf_jobs"])
        assert whoami_calls(fake) == 1  # the cache answers from now on
        await identity.aclose()
        await client.aclose()


async def test_failed_lookup_is_silent_and_not_retried_at_once():
    async with FakeHub() as fake:
        client = HubClient(endpoint=fake.url, token="hf_RevokedToken0000000000000000")
        identity = IdentitySource(lambda: client)
        render = system_prompt_renderer(identity=identity)
        assert "Hugging Face account" not in render(["a"])
        await wait_until(lambda: whoami_calls(fake) == 1)
        await wait_until(lambda: identity._warming is not None and identity._warming.done())
        text = render(["a"])
        assert "Hugging Face account" not in text and "# Session context" in text
        assert whoami_calls(fake) == 1  # backed off, not one request per LLM call
        await identity.aclose()
        await client.aclose()


def test_no_hub_or_no_token_means_no_account():
    assert IdentitySource(lambda: None)() == (None, ())
    client = HubClient(endpoint="http://127.0.0.1:9", token="")
    source = IdentitySource(lambda: client)
    assert source() == (None, ()) and source._warming is None  # no token: never asks


def test_timezone_config_is_validated_and_defaults_to_host():
    assert Config.model_validate({"model_name": "m", "timezone": "Asia/Tokyo"}).timezone == (
        "Asia/Tokyo"
    )
    with pytest.raises(ValueError, match="unknown timezone"):
        Config.model_validate({"model_name": "m", "timezone": "Mars/Olympus_Mons"})
    zone, name = resolve_timezone(None)
    assert name and datetime(2025, 1, 1, tzinfo=UTC).astimezone(zone).tzinfo is not None


async def test_the_manager_puts_the_hub_account_and_team_timezone_in_sessions(tmp_path):
    """Wiring: the Hub client the host attaches after the manager was built is the one whose
    cached identity the sessions' prompt names; the configured timezone dates it."""
    from agent_core.manager import SessionManager
    from agent_core.store import Store
    from agent_core.tools.router import ToolRouter
    from tests.engine_harness import ORIGIN, make_config

    store = await Store.open(tmp_path / "engine.db")
    await store.create_session("s", ORIGIN, "openai/fake", {"turn_count": 0})
    async with FakeHub() as fake:
        manager = SessionManager(store, make_config(timezone="Asia/Tokyo"), router=ToolRouter([]))
        session = await manager.get_session("s")
        assert "Hugging Face account" not in session.system_prompt()  # no Hub client yet
        client = HubClient(endpoint=fake.url, token=ALICE_TOKEN)
        manager.services.hub = client  # as runtime.attach_jobs does
        await client.whoami()
        prompt = session.system_prompt()
        assert "Hugging Face account: `alice` (orgs: `acme-ml`)" in prompt
        assert "timezone Asia/Tokyo (UTC+09:00)" in prompt
        await manager.close()
        await client.aclose()
    await store.close()
