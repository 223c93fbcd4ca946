"""The hf_space sandbox backend against the fake Hub's Spaces API and Space edge.

The fake Hub runs the committed Space for real (our server package, started the way our
Dockerfile's CMD starts it), so create → bash → delete crosses the same wires as on the Hub.
"""

from __future__ import annotations

import asyncio

import pytest
from huggingface_hub import HfApi

from agent_core.sandbox.client import SandboxClient, SandboxUnavailable
from agent_core.sandbox.handle import SandboxError
from agent_core.sandbox.spaces import TAG, SpaceBackend, space_subdomain
from tests.fakes.fake_hub import ALICE_TOKEN, BOB_TOKEN, FakeHub


@pytest.fixture
async def hub():
    async with FakeHub() as hub:
        yield hub


def backend_for(hub: FakeHub, token: str = ALICE_TOKEN) -> SpaceBackend:
    return SpaceBackend(
        HfApi(endpoint=hub.url, token=token),
        token,
        url_template=f"{hub.url}/spaces-proxy/{{owner}}/{{name}}",
        poll_s=0.02,
        runtime_timeout_s=30,
        health_timeout_s=10,
    )


async def test_create_runs_commands_in_a_private_space_then_delete(hub: FakeHub):
    backend = backend_for(hub)
    handle = await backend.create("sess-1", "cpu-basic")
    assert handle.id.startswith("alice/sandbox-") and handle.backend == "hf_space"
    repo = hub.repos.get(handle.id, "space")
    assert repo.private and TAG in repo.meta["tags"]
    payload = repo.meta["creation_payload"]
    assert payload["sdk"] == "docker" and payload["hardware"] == "cpu-basic"
    # the secret travels as a Space secret at creation, never in a committed file
    assert {s["key"] for s in payload["secrets"]} == {"SANDBOX_API_TOKEN", "HF_TOKEN"}
    assert all(handle.token.encode() not in data for data in repo.head().files.values())

    client = SandboxClient(handle.url, handle.token, ALICE_TOKEN)
    res = await client.call("bash", {"command": "echo ready; env | cut -d= -f1 | sort"})
    assert res.ok and res.output.startswith("ready")
    assert "HF_TOKEN" in res.output  # so the agent can push from its sandbox, like upstream
    assert "SANDBOX_API_TOKEN" not in res.output  # the server keeps its own secret
    await client.close()

    await backend.delete(handle)
    assert hub.repos.get(handle.id, "space") is None
    client = SandboxClient(handle.url, handle.token, ALICE_TOKEN)
    with pytest.raises(SandboxUnavailable):
        await client.call("bash", {"command": "echo gone"})
    await client.close()


async def test_attack_someone_elses_sandbox_through_the_space_edge(hub: FakeHub):
    handle = await backend_for(hub).create("sess-1", "cpu-basic")
    # Bob knows the URL and even the sandbox secret, but not Alice's token: the private
    # Space's edge does not let him through.
    bob = SandboxClient(handle.url, handle.token, BOB_TOKEN)
    with pytest.raises(SandboxUnavailable):
        await bob.call("bash", {"command": "id"})
    await bob.close()
    # Alice's token without the sandbox secret: the server refuses.
    alice = SandboxClient(handle.url, "guess", ALICE_TOKEN)
    with pytest.raises(SandboxUnavailable, match="refused our credentials"):
        await alice.call("bash", {"command": "id"})
    await alice.close()


async def test_gpu_sandbox_gets_a_sleep_time_and_unknown_hardware_is_refused(hub: FakeHub):
    backend = backend_for(hub)
    handle = await backend.create("sess-1", "t4-small")
    payload = hub.repos.get(handle.id, "space").meta["creation_payload"]
    assert payload["hardware"] == "t4-small" and payload["sleepTimeSeconds"] == 2700
    await backend.delete(handle)


async def test_orphan_sweep_deletes_only_our_unowned_sandboxes(hub: FakeHub):
    backend = backend_for(hub)
    live = await backend.create("live", "cpu-basic")
    orphan = await backend.create("dead", "cpu-basic")
    api = HfApi(endpoint=hub.url, token=ALICE_TOKEN)
    await asyncio.to_thread(  # not ours: same name pattern, no ml-intern tag
        api.create_repo, "alice/sandbox-0123abcd", repo_type="space", space_sdk="static"
    )
    gone = await backend.sweep_orphans(keep={live.id})
    assert gone == [orphan.id]
    assert hub.repos.get(live.id, "space") is not None
    assert hub.repos.get("alice/sandbox-0123abcd", "space") is not None
    await backend.delete(live)


async def test_creation_failure_is_a_clear_error_and_leaves_nothing(hub: FakeHub):
    backend = SpaceBackend(
        HfApi(endpoint=hub.url, token=ALICE_TOKEN),
        ALICE_TOKEN,
        owner="some-org-alice-is-not-in",
        url_template=f"{hub.url}/spaces-proxy/{{owner}}/{{name}}",
        poll_s=0.02,
    )
    with pytest.raises(SandboxError, match="could not create the sandbox Space: HTTP 403"):
        await backend.create("s", "cpu-basic")


def test_subdomain_rule():
    assert space_subdomain("Alice_Lab", "sandbox-1a2b3c4d") == "alice-lab-sandbox-1a2b3c4d"
