"""Operating the bot: its settings (``ops``, ``http``), health and readiness checks, the
Prometheus metrics, and the small HTTP server that exposes them."""
