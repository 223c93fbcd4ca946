"""Destination providers. Adding one: a module here with a sender class exposing
``async deliver(envelope, ctx) -> external_id | None``, its settings model in
:mod:`gateways.config`, and one line in :func:`gateways.providers.registry.build_sender`.

Nothing is imported here on purpose: the bot imports the Slack vocabularies
(:mod:`.slack_errors`, :mod:`.slack_mrkdwn`) without loading every provider.
"""
