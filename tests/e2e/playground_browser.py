"""Drive ``ml-intern-slack playground`` in headless Chromium (Debian's ``chromium`` and
``chromium-driver``; nothing is downloaded).

The playground runs as its own process — the real command, ``ml-intern-slack playground`` —
with ``--simulation`` (the scripted demo model and the simulated Hub) so the tests need no
key and never leave 127.0.0.1. Every wait is on a condition in the page, never a sleep.

On failure a screenshot and the page's HTML are written to ``PLAYGROUND_ARTIFACTS`` (default
``test-artifacts/playground``). With ``PLAYGROUND_SCREENSHOTS=<dir>`` the walkthrough saves
one screenshot per step there (that is how ``docs/playground/*.png`` are made).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)
WAIT_S = 45.0  # generous: a first turn waits for litellm's import (seconds on a busy machine)


def browser_available() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        return f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def require_browser() -> None:
    reason = browser_available()
    if reason is None:
        return
    if os.environ.get("PLAYGROUND_REQUIRE_BROWSER"):
        pytest.fail(f"browser tests required but {reason}")
    pytest.skip(reason)


class PlaygroundProcess:
    """``ml-intern-slack playground --no-browser --simulation`` (as ``python -m bot``, the
    console script's own entry) in a temp state dir."""

    def __init__(
        self,
        tmp: Path,
        job_seconds: float = 4.0,
        *,
        simulation: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        extra_env = env
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "OPENAI_", "ANTHROPIC_", "ML_INTERN_", "HF_"))
        }
        env.update(
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
            ML_INTERN_STATE_DIR=str(tmp / "state"),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            HF_HUB_DISABLE_TELEMETRY="1",
        )
        env.update(extra_env or {})
        self.log_path = tmp / "playground.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "playground", "--no-browser",
             *(["--simulation"] if simulation else []), "--job-seconds", str(job_seconds)],
            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )  # fmt: skip
        self.url = self._read_url()

    def _read_url(self) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until the line or EOF (timeout: pytest-timeout)
            if line.startswith("ml-intern playground: "):
                return line.split(": ", 1)[1].strip()
        self.stop()
        raise AssertionError("the playground exited before printing its URL:\n" + self.log())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def base_url(self) -> str:
        return self.url.split("/#", 1)[0]

    @property
    def key(self) -> str:
        return self.url.split("#key=", 1)[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def new_driver(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@contextmanager
def browser_session() -> Iterator[Any]:
    profile = Path(tempfile.mkdtemp(prefix="playground-chromium-"))
    driver = new_driver(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def save_artifacts(page: Page, name: str) -> None:
    """A screenshot, the page's HTML and the playground's log, for a failed test."""
    out = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "test-artifacts" / "playground"))
    out.mkdir(parents=True, exist_ok=True)
    page.driver.save_screenshot(str(out / f"{name}.png"))
    (out / f"{name}.html").write_text(page.driver.page_source)
    (out / f"{name}.playground.log").write_text(page.server.log())


@contextmanager
def artifacts_if_failing(page: Page, name: str) -> Iterator[Page]:
    try:
        yield page
    except BaseException:
        save_artifacts(page, name)
        raise


def artifacts_on_failure(test: Callable[..., Any]) -> Callable[..., Any]:
    """Save artifacts when the wrapped test (which takes the ``page`` fixture) fails."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with artifacts_if_failing(kwargs["page"], test.__name__):
            return test(*args, **kwargs)

    return wrapper


class Page:
    """What a person does on the page, and what they see — each wait a page condition."""

    def __init__(self, driver: Any, server: PlaygroundProcess) -> None:
        self.driver = driver
        self.server = server
        self.shots = os.environ.get("PLAYGROUND_SCREENSHOTS")

    # ------------------------------------------------------------------ plumbing
    def wait(self, condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        def check(_: Any) -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return None  # the list was redrawn under us: look again

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(check)
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}") from None

    def css(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def shot(self, name: str, focus: str | None = None) -> None:
        """Save a walkthrough screenshot (only when asked to); ``focus``: scroll the thread
        message containing this text to the top first."""
        if self.shots:
            if focus:
                self.js(
                    "const m = [...document.querySelectorAll('#thread-messages .msg')]"
                    ".find(m => m.textContent.includes(arguments[0]));"
                    "if (m) m.scrollIntoView({block: 'start'});",
                    focus,
                )
            Path(self.shots).mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(Path(self.shots) / f"{name}.png"))

    # ------------------------------------------------------------------ navigation
    def open(self) -> Page:
        self.driver.get(self.server.url)
        self.wait(lambda: "connected" in self.css("#bot-state")[0].text, "the bot to be connected")
        return self

    def act_as(self, label: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.css("#acting-user")[0]).select_by_visible_text(label)
        self.wait(
            lambda: (
                label
                in self.js("return document.querySelector('#acting-user').selectedOptions[0].text")
            ),
            f"acting as {label}",
        )

    def go(self, conversation_label: str) -> None:
        button = self.wait(
            lambda: next((b for b in self.css(".conv") if conversation_label in b.text), None),
            f"the {conversation_label} conversation",
        )
        button.click()
        self.wait(
            lambda: (
                conversation_label.strip("# ") in self.css("#channel-header")[0].text
                or "direct message" in self.css("#channel-header")[0].text
            ),
            "the channel to open",
        )

    # ------------------------------------------------------------------ composing
    def attach(self, path: Path, *, reply: bool = False) -> None:
        field = self.css("#reply-file" if reply else "#composer-file")[0]
        field.send_keys(str(path))
        box = "#reply-files" if reply else "#composer-files"
        self.wait(lambda: path.name in self.css(box)[0].text, f"{path.name} to be attached")

    def send(self, text: str, *, reply: bool = False) -> None:
        area = self.css("#reply-text" if reply else "#composer-text")[0]
        area.clear()
        area.send_keys(text)
        self.css("#reply-send" if reply else "#composer-send")[0].click()
        self.wait(lambda: area.get_attribute("value") == "", "the message to be sent")

    # ------------------------------------------------------------------ reading
    def message(self, text: str, where: str = "#messages") -> str:
        """Wait for a message containing ``text``; return all its visible text."""
        return self.wait(
            lambda: next((m.text for m in self.css(f"{where} .msg") if text in m.text), None),
            f"a message containing {text!r} in {where}",
        )

    def click_in_message(self, text: str, selector: str, where: str = "#messages") -> None:
        """Click ``selector`` inside the message containing ``text`` (found and clicked at
        once: live updates redraw messages)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        def click() -> bool:
            for m in self.css(f"{where} .msg"):
                if text in m.text:
                    targets = m.find_elements(By.CSS_SELECTOR, selector)
                    if targets:  # hover first: some controls show on hover, as in Slack
                        ActionChains(self.driver).move_to_element(m).perform()
                        targets[0].click()
                        return True
            return False

        self.wait(click, f"{selector} in the message containing {text!r}")

    def open_thread(self, root_text: str) -> None:
        self.click_in_message(root_text, "button.replies")
        self.wait(lambda: root_text in self.css("#thread-messages")[0].text, "the thread to open")

    def thread_text(self) -> str:
        return self.css("#thread-messages")[0].text

    def click_button(self, label: str, where: str = "#thread-messages") -> None:
        """Click a Block Kit button by its label (found and clicked in one step)."""

        def click() -> bool:
            button = next(
                (b for b in self.css(f"{where} .block-button") if b.text.strip() == label), None
            )
            if button is None or not button.is_enabled():
                return False
            button.click()
            return True

        self.wait(click, f"a {label!r} button to click")

    def modal(self) -> Any:
        return self.wait(lambda: next(iter(self.css(".modal")), None), "a modal to open")

    def record_statuses(self) -> None:
        """Remember every assistant status line the page shows (they are short-lived)."""
        self.js(
            "window.__statuses = [];"
            "new MutationObserver(() => document.querySelectorAll('.assistant-status')"
            ".forEach(s => { if (s.offsetParent && s.textContent) window.__statuses.push(s.textContent); }))"
            ".observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});"
        )

    def statuses_seen(self) -> list[str]:
        return self.js("return window.__statuses || []")
