"""The *Edit script…* modal: it must never approve a script the approver could not see whole,
and it goes to Slack scrubbed like everything else.

Attacks: a forged Edit click on a call whose script is longer than the modal can hold (the
modal silently showed the first 3,000 characters, and submitting approved that truncated
script); a forged ``view_submission`` whose metadata points at such a call; a token in the
script reaching Slack through ``views.open``, which bypassed the sender's scrubber.
Real sockets: the bot process against the Slack emulator.
"""

from __future__ import annotations

import json

from tests.adversarial.conftest import PLANTED
from tests.fakes.fake_llm import call, text, tool_calls
from tests.slack_harness import bot_env

JOB = {"operation": "run", "hardware_flavor": "a10g-large", "timeout": "2h"}
LONG = "".join(f"print('step {i}')  # keep going\n" for i in range(200)) + "print('THE END')\n"


def buttons(message) -> list[dict]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


async def two_cards(env):
    env.llm.push(tool_calls(call("hf_jobs", {**JOB, "script": "print('short')\n"})))
    ts1, _ = await env.slack.mention("train the short one")
    card1 = await env.wait_reply("C1", ts1, lambda m: "Approval needed" in m.text)
    env.llm.push(tool_calls(call("hf_jobs", {**JOB, "script": LONG})))
    ts2, _ = await env.slack.mention("train the long one")
    card2 = await env.wait_reply("C1", ts2, lambda m: "Approval needed" in m.text)
    return card1, card2


async def test_forged_edit_click_opens_truncated_script_of_long_call(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        card1, card2 = await two_cards(env)
        assert not [b for b in buttons(card2) if "edit" in b["action_id"]]  # no Edit offered
        long_value = next(
            b["value"] for b in buttons(card2) if b["action_id"].endswith("approve:0")
        )
        await env.slack.click_button(
            "C1", card1.ts, "ml_approval:edit:0", value=long_value, user="U1"
        )
        await env.settle()
        assert not env.slack.open_views("U1"), "a modal with a cut script was opened"
        assert env.hf_jobs.calls == []


async def test_forged_modal_submission_approves_truncated_script(tmp_path) -> None:
    async with bot_env(tmp_path) as env:
        card1, card2 = await two_cards(env)
        await env.slack.click_button("C1", card1.ts, "ml_approval:edit:0", user="U1")
        (view,) = await env.slack.wait_for(lambda: env.slack.open_views("U1"))
        long_value = json.loads(
            next(b["value"] for b in buttons(card2) if b["action_id"].endswith("approve:0"))
        )
        meta = json.loads(view["private_metadata"])
        meta.update(
            {"s": long_value["s"], "b": long_value["b"], "c": long_value["c"], "h": long_value["h"]}
        )
        await env.slack.submit_view(
            view["id"], {"script": LONG[:3000]}, user="U1", private_metadata=json.dumps(meta)
        )
        await env.settle()
        assert env.hf_jobs.calls == [], "the long call ran a truncated script"


async def test_token_in_script_reaches_slack_through_edit_modal(tmp_path) -> None:
    token = PLANTED["github_classic"]
    script = f"import os\nos.system('git push https://{token}@github.com/o/r')\n"
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(call("hf_jobs", {**JOB, "script": script})), text("ok"))
        ts, _ = await env.slack.mention("push it")
        card = await env.wait_reply("C1", ts, lambda m: "Approval needed" in m.text)
        await env.slack.click_button("C1", card.ts, "ml_approval:edit:0", user="U1")
        (view,) = await env.slack.wait_for(lambda: env.slack.open_views("U1"))
        assert "git push" in json.dumps(view)
        assert token[-20:] not in json.dumps(view)


async def test_forged_approve_button_without_args_hash_skips_the_binding(tmp_path) -> None:
    """The argument hash is what binds a click to what the card showed; a value without it
    must not approve (the claim only compares a hash that is given)."""
    async with bot_env(tmp_path) as env:
        env.llm.push(tool_calls(call("hf_jobs", {**JOB, "script": "print('x')\n"})))
        ts, _ = await env.slack.mention("train", user="U1")
        card = await env.wait_reply("C1", ts, lambda m: "Approval needed" in m.text)
        approve = next(b for b in buttons(card) if b["action_id"].endswith("approve:0"))
        value = json.loads(approve["value"])
        value.pop("h")
        await env.slack.click_button(
            "C1", card.ts, approve["action_id"], value=json.dumps(value), user="U1"
        )
        await env.slack.wait_for(
            lambda: any(
                "malformed" in p.payload.get("text", "") for p in env.slack.response_url_posts
            ),
            timeout=10,
        )
        await env.settle()
        assert env.hf_jobs.calls == []
