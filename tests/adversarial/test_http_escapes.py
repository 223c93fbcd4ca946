"""The research tools' HTTP: a redirect is chosen by the server (or by whoever planted a page),
so every hop is re-checked; a GitHub path from the model cannot climb out of repo contents.

Tests run every service on 127.0.0.1, so "internal" here is a second loopback server on another
port: the configured endpoint may be loopback, anything else on loopback may not.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from agent_core.hub import HubClient, HubError
from agent_core.tools import github_tools
from agent_core.tools.http_util import get_bounded
from tests.fakes.fake_docs import FakeDocs
from tests.fakes.fake_github import FakeGitHub
from tests.tool_harness import make_config, make_harness

TOKEN = "hf_" + "b" * 34


@pytest.fixture
async def hub(monkeypatch):
    async with FakeDocs() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.base_url)
        yield fake


async def test_hub_302_to_loopback_service_is_followed(hub):
    async with FakeDocs() as internal:
        client = HubClient(endpoint=hub.base_url, token=TOKEN)
        try:
            target = f"{internal.base_url}/docs/trl/index.md"
            with pytest.raises(HubError):
                await client.get_json(f"{hub.base_url}/redirect?to={quote(target)}", what="x")
        finally:
            await client.aclose()
        assert hub.requests, "the Hub stand-in was asked"
        assert internal.requests == [], "the redirect reached a loopback service"


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://10.0.0.7:8080/admin",
    ],
)
async def test_redirect_to_cloud_metadata_or_private_network(hub, target):
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.RequestError, match="refusing to fetch"):
            await get_bounded(client, f"{hub.base_url}/redirect?to={quote(target)}")


async def test_redirect_to_configured_endpoint_still_works(hub):
    async with FakeDocs() as datasets_server, httpx.AsyncClient() as client:
        target = f"{datasets_server.base_url}/docs/trl/index.md"
        resp = await get_bounded(
            client,
            f"{hub.base_url}/redirect?to={quote(target)}",
            trusted_origins=(datasets_server.base_url,),
        )
        assert resp.status_code == 200 and "TRL" in resp.text


@pytest.fixture
async def gh(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "c" * 36)
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    async with FakeGitHub() as fake:
        fake.add_repo("huggingface", "trl", {"README.md": "# TRL"})
        yield fake


@pytest.mark.parametrize(
    "path",
    ["../../user", "../../../../user", "docs/../../../../orgs/acme/members", "./../..", "%2e%2e/x"],
)
async def test_github_read_file_path_climbs_out_of_repo_contents(tmp_path, gh, path):
    h = make_harness(tmp_path, config=make_config(github_api_url=gh.base_url))
    text, _ok = await github_tools.read_file_handler(
        {"repo": "huggingface/trl", "path": path}, h.ctx
    )
    for requested, _headers in gh.requests:
        assert requested.startswith("/repos/huggingface/trl/contents/"), requested


@pytest.mark.parametrize("repo", ["../user", "huggingface/..", "./trl"])
async def test_github_repo_name_with_dot_segments_reaches_other_endpoints(tmp_path, gh, repo):
    h = make_harness(tmp_path, config=make_config(github_api_url=gh.base_url))
    text, ok = await github_tools.read_file_handler({"repo": repo, "path": "README.md"}, h.ctx)
    assert not ok
    assert gh.requests == []
