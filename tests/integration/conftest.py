"""Fixtures for the integration tier: the real Postgres server (see tests/postgres_harness.py)."""

from tests.postgres_harness import postgres_server, postgres_url, replicas, store_url

__all__ = ["postgres_server", "postgres_url", "replicas", "store_url"]
