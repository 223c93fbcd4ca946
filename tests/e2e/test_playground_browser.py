"""The playground as a person uses it, in headless Chromium: mention the bot, read the answer
in the thread, approve as an approver, be refused as a bystander, open the modals, attach a
file, use ``/ml-intern``, and watch a job card update until the finished notification.

One playground process and one browser serve the whole module (each test starts its own
thread); see :mod:`tests.e2e.playground_browser` for the harness."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.playground_browser import (
    ROOT,
    Page,
    PlaygroundProcess,
    artifacts_if_failing,
    artifacts_on_failure,
    browser_session,
    require_browser,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlaygroundProcess]:
    require_browser()
    proc = PlaygroundProcess(tmp_path_factory.mktemp("playground"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def driver(server: PlaygroundProcess) -> Iterator[object]:
    with browser_session() as d:
        yield d


@pytest.fixture
def page(driver: object, server: PlaygroundProcess) -> Page:
    p = Page(driver, server).open()
    p.act_as("Alice (requester)")
    p.go("# ml-team")
    return p


@artifacts_on_failure
def test_walkthrough_request_approval_job_card_and_finished_notification(page: Page) -> None:
    """The README's story: research → plan → approval card → job card → training done."""
    page.shot("01-start")
    page.record_statuses()
    page.send("@ml-intern fine-tune distilbert on imdb and push it to the Hub")
    page.open_thread("fine-tune distilbert on imdb")
    page.message("Approval needed", "#thread-messages")
    card_text = page.thread_text()
    assert "Approval needed" in card_text
    assert "t4-small" in card_text and "$" in card_text  # hardware and cost on the card
    page.message("Research a recipe", "#thread-messages")  # the plan, in the progress message
    page.message("Full script for hf_jobs", "#thread-messages")  # the bot's upload
    assert page.statuses_seen(), "the assistant status line was never shown"
    page.shot("02-approval-card", focus="Approval needed")

    page.act_as("Carol (bystander)")
    page.click_button("Approve")
    refusal = page.message("not allowed to decide", "#thread-messages")
    assert "Only visible to you" in refusal
    assert "Approval needed" in page.thread_text()  # nothing was decided
    page.shot("03-bystander-refused")

    page.act_as("Bob (approver)")
    assert "not allowed to decide" not in page.thread_text()  # Carol's ephemeral is hers
    page.click_button("Approve")
    page.message("Approved", "#thread-messages")
    assert "SIMULATION" in page.css("#notices")[0].text
    page.message("The training job is submitted", "#thread-messages")
    page.shot("04-approved-job-running")

    finished = page.message("your job", "#thread-messages")
    assert "completed" in finished and "eval_accuracy" in finished
    card = page.message("Job", "#thread-messages")
    assert "completed" in card and "(edited)" in card  # the job card was updated in place
    page.shot("05-training-done")

    page.click_button("Show logs")  # the bot uploads the job's log as a file in the thread
    page.message("Logs of job", "#thread-messages")
    page.click_in_message("Logs of job", ".file-toggle", "#thread-messages")
    page.message("Pushed playground-sim/distilbert-imdb", "#thread-messages")
    page.shot("09-job-logs", focus="Logs of job")


@artifacts_on_failure
def test_reject_modal_and_edit_script_modal(page: Page) -> None:
    page.send("@ml-intern train a sentiment model on imdb")
    page.open_thread("train a sentiment model on imdb")
    page.click_button("Edit script…")
    page.modal()
    script = page.css(".modal .modal-input")[0].get_attribute("value")
    assert "load_dataset" in script  # the script the card holds, editable
    page.shot("06-edit-script-modal")
    page.css(".modal-cancel")[0].click()
    page.wait(lambda: not page.css(".modal"), "the modal to close")

    page.click_button("Reject…")
    page.modal()
    page.css(".modal .modal-input")[0].send_keys("use a smaller GPU first")
    page.shot("07-reject-modal")
    page.css(".modal-submit")[0].click()
    page.wait(lambda: not page.css(".modal"), "the modal to close")
    page.message("Rejected", "#thread-messages")
    page.message("the job was not run", "#thread-messages")


@artifacts_on_failure
def test_attach_a_csv_and_the_bot_sees_it(page: Page, tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngreat movie,1\nterrible plot,0\n")
    page.attach(data)
    page.send("@ml-intern here is my data")
    assert "reviews.csv" in page.message("here is my data")
    page.open_thread("here is my data")
    page.message("Got reviews.csv", "#thread-messages")
    page.click_in_message("here is my data", ".file-toggle")
    page.message("terrible plot")  # the preview shows the file's content
    page.shot("08-file-attached")


@artifacts_on_failure
def test_slash_command_help_is_ephemeral_to_the_caller(page: Page) -> None:
    page.send("/ml-intern help")
    help_msg = page.message("Only visible to you")
    assert "ml-intern" in help_msg
    page.send("/ml-intern what can you do")  # with a request: a new thread, Alice asking
    page.open_thread("asked: what can you do")
    page.message("demo model", "#thread-messages")
    page.act_as("Bob (approver)")
    page.wait(
        lambda: not any("Only visible to you" in m.text for m in page.css("#messages .msg")),
        "Alice's ephemeral to be hidden from Bob",
    )


@artifacts_on_failure
def test_dm_the_bot(page: Page) -> None:
    page.go("ml-intern")
    page.send("hello, what can you do?")
    page.open_thread("hello, what can you do?")
    page.message("demo model", "#thread-messages")


@artifacts_on_failure
def test_html_in_messages_is_shown_as_text_not_run(page: Page) -> None:
    """A colleague (or a prompt-injected model) posting markup must not script the page."""
    attack = '<img src=x onerror="window.__pwned=1"><b>not bold</b>'
    page.send(attack)
    assert "<img src=x" in page.message("not bold</b>")
    assert page.js("return window.__pwned === undefined")
    assert not page.css("#messages .msg img[src='x']")


# Shapes after the examples in Slack's Block Kit reference (docs.slack.dev/reference/block-kit/
# blocks: header, divider, image, section with fields and a button accessory, context,
# actions with primary/danger buttons, and the markdown block).
BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Budget Performance"}},
    {"type": "divider"},
    {
        "type": "image",
        "image_url": "http://127.0.0.1:9/curve.png",
        "alt_text": "loss curve",
        "title": {"type": "plain_text", "text": "Loss"},
    },
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*bold* _it_ ~gone~ <https://hf.co|the Hub> <@U0ALICE> <javascript:alert(1)|click>",
        },
        "fields": [
            {"type": "mrkdwn", "text": "*Hardware*\n`t4-small`"},
            {"type": "mrkdwn", "text": "*Cost*\n$0.40/h"},
        ],
        "accessory": {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open"},
            "action_id": "open",
        },
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": ":white_check_mark: done"}]},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "action_id": "a",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "action_id": "r",
            },
        ],
    },
    {
        "type": "markdown",
        "text": "## Results\n| model | acc |\n|---|---|\n| bert | **0.93** |\n```\nloss 0.1\n```",
    },
]


@artifacts_on_failure
def test_block_kit_is_drawn_as_slack_draws_it(page: Page) -> None:
    page.js(
        "const d = document.createElement('div'); d.id = 'bk';"
        "d.innerHTML = BlockKit.renderBlocks(arguments[0], {userName: u => u === 'U0ALICE' ? 'alice' : u, channelName: c => c});"
        "document.body.prepend(d);",
        BLOCKS,
    )
    assert page.css("#bk .blk-header")[0].text == "Budget Performance"
    assert page.css("#bk hr.blk-divider")
    assert page.css("#bk .blk-image img")[0].get_attribute("alt") == "loss curve"
    assert [f.text for f in page.css("#bk .fields > div")] == [
        "Hardware\nt4-small",
        "Cost\n$0.40/h",
    ]
    section = page.css("#bk .blk-section")[0]
    assert section.find_element("css selector", "b").text == "bold"
    assert section.find_element("css selector", "s").text == "gone"
    assert section.find_element("css selector", "a").get_attribute("href") == "https://hf.co/"
    assert "@alice" in section.text
    assert len(section.find_elements("css selector", "a")) == 1  # javascript: is never a link
    assert page.css("#bk .accessory .btn")[0].text == "Open"
    assert "✅" in page.css("#bk .blk-context")[0].text
    assert page.css("#bk .btn-primary")[0].text == "Approve"
    assert page.css("#bk .btn-danger")[0].text == "Reject"
    assert [c.text for c in page.css("#bk .md-table td")] == ["bert", "0.93"]
    assert page.css("#bk .blk-markdown pre.code")[0].text == "loss 0.1"
    page.js("document.getElementById('bk').remove()")


@artifacts_on_failure
def test_people_add_and_remove_reactions(page: Page) -> None:
    page.send("reactions welcome here")
    page.message("reactions welcome here")
    page.click_in_message("reactions welcome here", "[data-react-add]")
    page.click_in_message("reactions welcome here", '.picker [data-react="tada"]')
    page.wait(
        lambda: any(
            "🎉 1" in m.text and m.find_elements("css selector", ".reaction.mine")
            for m in page.css("#messages .msg")
            if "reactions welcome here" in m.text
        ),
        "Alice's 🎉",
    )
    page.click_in_message("reactions welcome here", '[data-react="tada"]')
    page.wait(lambda: "🎉" not in page.message("reactions welcome here"), "the 🎉 to be removed")


# A 1x1 PNG (the smallest valid image: signature, IHDR, IDAT, IEND).
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082"
)


@artifacts_on_failure
def test_an_image_file_is_shown_inline(page: Page, tmp_path: Path) -> None:
    curve = tmp_path / "loss-curve.png"
    curve.write_bytes(PNG_1X1)
    page.attach(curve)
    page.send("the loss curve")
    page.message("the loss curve")
    loaded = page.wait(
        lambda: page.js(
            "const img = [...document.querySelectorAll('#messages .file-image img')]"
            ".find(i => i.alt === 'loss-curve.png'); return img && img.complete && img.naturalWidth;"
        ),
        "the image to load",
    )
    assert loaded == 1


def test_with_a_provider_setting_the_real_model_answers_and_the_banner_says_so(
    driver: object, tmp_path: Path
) -> None:
    """OPENAI_API_BASE (here: the project's scripted OpenAI-compatible server, standing in for
    a local model server) makes the model real; the Hub stays simulated and says so."""
    llm = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fake_llm", "--port", "0", "--mode", "echo"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    server = None
    try:
        assert llm.stdout is not None
        ready = llm.stdout.readline()
        assert ready.startswith("READY "), ready
        env = {
            "OPENAI_API_BASE": ready.split()[1],
            "OPENAI_API_KEY": "sk-fake-local",
            "ML_INTERN_MODEL": "openai/fake",
        }
        server = PlaygroundProcess(tmp_path, simulation=False, env=env)
        page = Page(driver, server)
        with artifacts_if_failing(page, "test_real_model"):
            page.open()
            notices = {n.get_attribute("data-part"): n for n in page.css("#notices .notice")}
            assert "notice-real" in notices["model"].get_attribute("class")
            assert "openai/fake" in notices["model"].text
            assert "SIMULATION" not in notices["model"].text
            assert "SIMULATION" in notices["hub"].text
            page.act_as("Alice (requester)")
            page.go("# ml-team")
            page.send("@ml-intern hello real model")
            page.open_thread("hello real model")
            assert "hello real model" in page.message("echo:", "#thread-messages")
    finally:
        if server is not None:
            server.stop()
        llm.terminate()
        llm.wait(10)
