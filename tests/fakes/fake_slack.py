"""A local, strict Slack emulator: Web API + Socket Mode + webhooks on one aiohttp server.

Why it exists
-------------
The bot is a slack_bolt ``AsyncApp`` driven over Socket Mode. Tests with mocks cannot tell
whether the *real* Bolt/slack_sdk stack, talking the real wire format, produces the right
Slack-side outcome (threaded reply, edited message, shared file, acked envelope). This
emulator lets tests run the real stack against ``http://127.0.0.1:<port>/api/`` and assert on
Slack-side *state*, with no network.

It is strict on purpose: wrong tokens, missing arguments, oversize text/blocks, unknown
timestamps and rate limits fail the way Slack fails (``ok:false`` + error code, or HTTP 429 +
``Retry-After``), so code that passes here does not blow up in production. Only the Web API
methods the product calls are emulated (an unknown method answers ``unknown_method``).

Bot side: the only requirement is an injectable base URL::

    client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
    app = AsyncApp(client=client)
    handler = AsyncSocketModeHandler(app, app_token=fake.app_token)  # build inside the loop
    await handler.connect_async()

Test side::

    async with FakeSlack() as fake:
        ...                                   # connect the bot as above
        ts, ack = await fake.mention("train bert", channel="C1")
        reply = await fake.wait_for_message("C1", thread_ts=ts, predicate=lambda m: m.is_bot)
        ack = await fake.click_button("C1", reply.ts, "approve")
        await fake.wait_for_call("chat.update")
        fake.fail_next("chat.postMessage", status=429, retry_after=1)
        fake.enable_rate_limits()             # Slack tiers, off by default

Where things are (``tests/fakes/slack/``)
-----------------------------------------
=====================  ===================================================================
``state.py``           the workspace: channels, users, messages, views, the traffic record
``web_api.py``         ``/api/<method>``: argument parsing, tokens, faults, rate limits
``web_methods.py``     the Web API methods the bot calls (chat, reactions, conversations …)
``files.py``           ``files.*``, the upload URL, ``url_private`` downloads
``socket_mode.py``     ``/link/``: connections, envelopes spread over them, acks, retries
``payloads.py``        event and interactivity payload shapes
``people.py``          mention, message, DM, click, submit a modal
``hooks.py``           incoming webhooks (``/services/…``) and ``response_url``
``faults.py``          scripted failures and rate-limit tiers (limits in ``slack_limits.py``)
``http_events.py``     the HTTP Events API: signed POSTs to the app's request URL, retries
``control.py``         ``/_control/…`` for out-of-process drivers (benchmarks)
``emulator.py``        ``FakeSlack``: the parts composed on one ``FakeServer`` (``server.py``)
=====================  ===================================================================

Command line (benchmarks)
-------------------------
``python -m tests.fakes.fake_slack --port 0`` prints ``READY http://127.0.0.1:PORT/api/`` and
serves until SIGINT/SIGTERM; the control API is at the same origin + ``/_control``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from tests.fakes.server import serve_until_signalled
from tests.fakes.slack.emulator import FakeSlack
from tests.fakes.slack.faults import Fault
from tests.fakes.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    Ack,
    AckTimeout,
    Call,
    FakeFile,
    HookPost,
    Message,
    SlackError,
)

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_NAME",
    "BOT_USER_ID",
    "TEAM_ID",
    "Ack",
    "AckTimeout",
    "Call",
    "FakeFile",
    "FakeSlack",
    "Fault",
    "HookPost",
    "Message",
    "SlackError",
    "main",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Slack emulator (Web API + Socket Mode).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = random free port")
    parser.add_argument("--bot-token", default="xoxb-test")
    parser.add_argument("--app-token", default="xapp-1-A111-test")
    parser.add_argument(
        "--strict", action="store_true", help="only registered channels/users exist"
    )
    parser.add_argument("--rate-limits", action="store_true", help="enforce Slack rate-limit tiers")
    parser.add_argument("--ack-timeout", type=float, default=5.0)
    parser.add_argument(
        "--event-retries", type=int, default=3, help="redeliveries of an unacked event (Slack: 3)"
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    fake = FakeSlack(
        bot_token=args.bot_token,
        app_token=args.app_token,
        host=args.host,
        port=args.port,
        strict=args.strict,
        rate_limits=args.rate_limits,
        ack_timeout=args.ack_timeout,
        event_retries=args.event_retries,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_signalled(fake, lambda: fake.base_url))


if __name__ == "__main__":
    main()
