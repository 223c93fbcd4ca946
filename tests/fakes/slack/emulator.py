"""``FakeSlack``: the workspace state served over Slack's protocols on one aiohttp server.

Composition only: :class:`SlackState` is the workspace; :class:`WebApi` (``/api/``),
:class:`FileTransfers` (upload URL, ``url_private``), :class:`Hooks` (``/services/``,
``/response_url/``), :class:`SocketMode` (``/link/``) and :class:`ControlApi` (``/_control/``)
each receive the state and what else they use; :class:`People` acts for humans. After
:meth:`FakeSlack.deliver_over_http`, people's actions reach the app as signed HTTP requests
(:class:`HttpEvents`, the HTTP Events API) instead of Socket Mode envelopes. A test holds
one ``FakeSlack`` and calls the parts' methods through it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer
from tests.fakes.slack.control import ControlApi
from tests.fakes.slack.faults import FaultPlan
from tests.fakes.slack.files import FileTransfers, share_user_file
from tests.fakes.slack.hooks import Hooks
from tests.fakes.slack.http_events import HttpEvents
from tests.fakes.slack.people import People
from tests.fakes.slack.socket_mode import Delivery, SocketMode
from tests.fakes.slack.state import SlackState
from tests.fakes.slack.web_api import WebApi

log = logging.getLogger("fake_slack")


class FakeSlack(FakeServer, SlackState):
    """A strict local Slack: Web API, Socket Mode, webhooks and a control API on one port.

    Run it in the test's own event loop (``async with FakeSlack() as fake``) so the bot, the
    fake and the test share one loop: no threads, no sleeps, and the ``wait_for*`` helpers
    wake on state changes.
    """

    client_max_size = 64 * 1024 * 1024
    shutdown_timeout = 1.0

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-1-A111-test",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        strict: bool = False,
        rate_limits: bool = False,
        clock: Callable[[], float] = time.monotonic,
        ack_timeout: float = 5.0,
        event_retries: int = 3,
        trigger_ttl: float = 3.0,
    ) -> None:
        """
        Args:
            strict: only registered channels/users/webhooks exist (``add_channel`` …) and
                unknown socket tickets are refused; off, any well-formed id is accepted.
            rate_limits: enforce Slack's tiers from the start (``enable_rate_limits``).
            clock: time source for rate limits and trigger expiry (step it in tests).
            ack_timeout: how long an envelope waits for the bot's ack.
            event_retries: how often an unacked Events API envelope is delivered again
                (Slack: 3; 0 = never, the test redelivers by hand).
            trigger_ttl: trigger_ids expire after this (Slack: 3 s).
        """
        if not bot_token.startswith("xoxb-"):
            log.warning(
                "bot token %r does not start with xoxb-: Bolt will not set bot_user_id", bot_token
            )
        FakeServer.__init__(self, host=host, port=port)
        SlackState.__init__(
            self,
            origin=f"http://{host}:{port}",
            strict=strict,
            clock=clock,
            trigger_ttl=trigger_ttl,
        )
        self.bot_token = bot_token
        self.app_token = app_token

        self.faults = FaultPlan(self.rate_limited, clock=lambda: self.clock())
        self.socket = SocketMode(self, ack_timeout=ack_timeout, retries=event_retries)
        self.hooks = Hooks(self, self.faults)
        self.web_api = WebApi(
            self,
            self.faults,
            bot_token=bot_token,
            app_token=app_token,
            extra_methods={"apps.connections.open": self.socket.connections_open},
        )
        self.file_transfers = FileTransfers(self, self.faults, bot_token=bot_token)
        self.people = People(self, self.socket, self.hooks)
        self.control = ControlApi(self, self.socket, self.people, self.faults)
        if rate_limits:
            self.faults.enable_rate_limits()

        # The test-facing API, by protocol.
        self.fail_next = self.faults.fail_next
        self.lose_next_response = self.faults.lose_next_response
        self.enable_rate_limits = self.faults.enable_rate_limits
        self.disable_rate_limits = self.faults.disable_rate_limits
        self.wait_connected = self.socket.wait_connected
        self.push_envelope = self.socket.push_envelope
        self.send_event = self.socket.send_event
        self.redeliver = self.socket.redeliver
        self.request_reconnect = self.socket.request_reconnect
        self.drop_connections = self.socket.drop_connections
        self.add_webhook = self.hooks.add_webhook
        self.new_response_url = self.hooks.new_response_url
        self.mention = self.people.mention
        self.message = self.people.message
        self.dm = self.people.dm
        self.click_button = self.people.click_button
        self.submit_view = self.people.submit_view
        self.share_file = functools.partial(share_user_file, self)

    def deliver_over_http(
        self, request_url: str | list[str], signing_secret: str, **options: Any
    ) -> HttpEvents:
        """From now on deliver events and interactivity to ``request_url`` as Slack's HTTP
        Events API does (signed, retried; several URLs: round robin, as a load balancer);
        ``options`` go to :class:`HttpEvents`."""
        events = HttpEvents(self, request_url, signing_secret, **options)
        self.http_events = events
        self.people.socket = events  # type: ignore[assignment]  # same delivery methods
        self.push_envelope = events.push_envelope
        self.send_event = events.send_event
        self.redeliver = events.redeliver
        return events

    def routes(self, app: web.Application) -> None:
        self.web_api.routes(app)
        self.file_transfers.routes(app)
        self.hooks.routes(app)
        self.socket.routes(app)
        self.control.routes(app)
        app.router.add_get("/archives/{channel}/{p}", self._permalink_page)

    async def on_started(self) -> None:
        self.origin = self.http_url
        log.info("fake slack listening on %s", self.base_url)

    async def on_stopping(self) -> None:
        await self.socket.close()

    @property
    def base_url(self) -> str:
        """Web API base URL to give ``AsyncWebClient(base_url=…)``."""
        return f"{self.http_url}/api/"

    @property
    def ws_connections(self) -> int:
        return self.socket.ws_connections

    @property
    def connections_opened(self) -> int:
        return self.socket.connections_opened

    @property
    def deliveries(self) -> list[Delivery]:
        """Which connection got each envelope (see ``socket_mode``)."""
        return self.socket.deliveries

    @property
    def rate_limits_enabled(self) -> bool:
        return self.faults.rate_limits_enabled

    async def _permalink_page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"fake permalink {request.path_qs}", content_type="text/html")
