"""The playground as a person uses it, in headless Chromium: mention the bot, read the answer
in the thread, approve as an approver, be refused as a bystander, open the modals, attach a
file, use ``/ml-intern``, and watch a job card update until the finished notification.

One playground process and one browser serve the whole module (each test starts its own
thread); see :mod:`tests.e2e.playground_browser` for the harness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.playground_browser import (
    Page,
    PlaygroundProcess,
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
    page.shot("05-training-done", focus="Job")


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
