"""Composition and rendering are pure: what each event looks like at each destination."""

from __future__ import annotations

import json

from agent_core.durations import format_duration
from gateways.compose import compose, compose_agent_message, error_fingerprint
from gateways.render import render_slack, render_webhook, to_mrkdwn
from gateways.signing import sign, verify_signature
from tests.gateway_harness import APPROVAL, JOB_FINISHED, ORIGIN, event

PERMALINK = "https://fake-team.slack.com/archives/C0ORIGIN/p1700000000000100"


def _all_text(payload: dict) -> str:
    return payload["text"] + "\n" + json.dumps(payload["blocks"], ensure_ascii=False)


def test_job_finished_on_slack_has_the_facts_mention_and_links() -> None:
    n = compose(event("job_finished", JOB_FINISHED), ORIGIN)
    assert n is not None and n.severity == "success" and n.title == "Job completed"
    out = render_slack(n, permalink=PERMALINK, mention="U1")
    assert out["text"].startswith("<@U1> :white_check_mark: Job completed: job 6650abc123")
    assert "wall time 1h 2m 3s" in out["text"] and "cost $0.42" in out["text"]
    head, fields, logs, context = out["blocks"]
    assert head["text"]["text"] == "<@U1> :white_check_mark: *Job completed*"
    labels = [f["text"].split("\n")[0] for f in fields["fields"]]
    assert labels == ["*Job*", "*Stage*", "*Hardware*", "*Wall time*", "*Cost*"]
    assert "saved model to alice/distilbert-imdb" in logs["text"]["text"]
    ctx = context["elements"][0]["text"]
    assert f"<{PERMALINK}|Open thread>" in ctx
    assert "<https://huggingface.co/jobs/alice/6650abc123|View job>" in ctx


def test_failed_job_is_an_error_with_its_reason() -> None:
    data = {**JOB_FINISHED, "stage": "ERROR", "error": "CUDA out of memory"}
    n = compose(event("job_finished", data), ORIGIN)
    assert n is not None and (n.severity, n.title) == ("error", "Job failed")
    out = render_slack(n)
    assert out["text"] == ":x: Job failed: CUDA out of memory"


def test_turn_complete_is_a_concise_excerpt_with_a_link_to_the_rest() -> None:
    answer = "## Done\nTrained **distilbert** on imdb. " + "x" * 3000
    n = compose(event("turn_complete", {"history_size": 9, "final_response": answer}), ORIGIN)
    assert n is not None and n.severity == "success"
    out = render_slack(n, permalink=PERMALINK)
    body = out["blocks"][0]["text"]["text"]
    assert body.startswith(":white_check_mark: *Task complete*\n*Done*\nTrained *distilbert*")
    assert len(body) < 1400 and "Read the rest in the thread" in body
    assert out["text"] == ":white_check_mark: Task complete: Done"


def test_error_and_approval_wording() -> None:
    err = compose(event("error", {"error": "LLM timed out after 600s", "kind": "llm"}), ORIGIN)
    assert err is not None and err.severity == "error"
    assert render_slack(err)["text"] == ":x: Agent error: LLM timed out after 600s"
    ap = compose(event("approval_required", APPROVAL), ORIGIN)
    assert (
        ap is not None and ap.severity == "warning" and ap.title == "Approval needed (1 tool call)"
    )
    text = _all_text(render_slack(ap, mention="U1"))
    assert "`hf_jobs` — GPU job on a10g-large (est. $1.20)" in text
    assert "*Estimated cost*\\n$1.20" in text


def test_job_progress_only_notifies_warnings() -> None:
    quiet = {"job_id": "j", "stage": "RUNNING", "log_tail": "step 10", "metrics": {}}
    assert compose(event("job_progress", quiet), ORIGIN) is None
    loud = {**quiet, "warning": "loss is NaN at step 120", "metrics": {"loss": "nan"}}
    n = compose(event("job_progress", loud), ORIGIN)
    assert n is not None and n.severity == "warning" and n.title == "Job needs attention"


def test_uninteresting_events_compose_to_nothing() -> None:
    assert compose(event("assistant_chunk", {"content": "x"}), ORIGIN) is None
    assert compose(event("tool_call", {"tool": "x"}), ORIGIN) is None


def test_secrets_are_scrubbed_before_anything_is_rendered() -> None:
    token = "hf_" + "a" * 34
    n = compose(event("error", {"error": f"401 with token {token}"}), ORIGIN)
    assert n is not None and token not in n.model_dump_json()
    assert "[REDACTED_HF_TOKEN]" in n.message


def test_mrkdwn_conversion_keeps_code_and_entities() -> None:
    md = "# Title\n**b** *i* ~~s~~ [docs](https://hf.co/docs) <@U1> a<b & c\n```\nx = a**2 < 3\n```"
    assert to_mrkdwn(md) == (
        "*Title*\n*b* _i_ ~s~ <https://hf.co/docs|docs> <@U1> a&lt;b &amp; c\n"
        "```\nx = a**2 &lt; 3\n```"
    )


def test_webhook_document_is_flat_and_versioned() -> None:
    n = compose(event("job_finished", JOB_FINISHED, seq=7), ORIGIN)
    assert n is not None
    doc = render_webhook(n, delivery_id="s1:7:ci", destination="ci", thread_url=PERMALINK)
    assert doc["type"] == "ml_intern.notification" and doc["version"] == 1
    assert doc["id"] == "s1:7:ci" and doc["event_type"] == "job_finished" and doc["seq"] == 7
    assert doc["fields"]["Wall time"] == "1h 2m 3s" and doc["thread_url"] == PERMALINK
    assert doc["data"]["cost_usd"] == 0.42 and doc["requester"] == "U1"
    json.dumps(doc)  # serialisable as is


def test_agent_message_and_helpers() -> None:
    n = compose_agent_message(
        title=None, message="eval done", severity="info", session_id="s1", origin=ORIGIN
    )
    out = render_slack(n)
    assert out["text"] == ":information_source: Message from the agent: eval done"
    assert "sent by the agent" in out["blocks"][-1]["elements"][0]["text"]
    assert (
        format_duration(59.6, "exact") == "1m"
        and format_duration(600, "exact") == "10m"
        and format_duration(None) is None
    )
    assert error_fingerprint({"error": "timeout after 30.2s"}) == error_fingerprint(
        {"error": "timeout  after 31s"}
    )


def test_signature_round_trip_and_rejections() -> None:
    body = b'{"a":1}'
    sig = sign("s3cret", body, 1_700_000_000)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify_signature("s3cret", body, "1700000000", sig, now=1_700_000_100)
    assert not verify_signature("wrong", body, "1700000000", sig, now=1_700_000_100)
    assert not verify_signature("s3cret", body + b" ", "1700000000", sig, now=1_700_000_100)
    assert not verify_signature("s3cret", body, "1700000000", sig, now=1_700_001_000)
    assert verify_signature("s3cret", body, "1700000000", sig, tolerance_s=0)
    assert not verify_signature("s3cret", body, None, sig)


def test_slack_excerpt_never_leaves_a_code_block_open() -> None:
    answer = "Here is the script:\n```python\n" + "print('x')\n" * 300 + "```\nDone."
    n = compose(event("turn_complete", {"final_response": answer}), ORIGIN)
    assert n is not None
    body = render_slack(n)["blocks"][0]["text"]["text"]
    assert body.count("```") % 2 == 0
