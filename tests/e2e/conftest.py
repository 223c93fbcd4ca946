"""Fixtures for the e2e tier: the real Postgres server (see tests/postgres_harness.py)."""

from tests.postgres_harness import postgres_server, postgres_url, store_url

__all__ = ["postgres_server", "postgres_url", "store_url"]
