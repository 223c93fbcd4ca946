# ml-intern-slack: the bot as a container image (the documented deployment: compose.yaml).
#
#   docker build -t ml-intern-slack .
#   docker run --env-file .env ml-intern-slack            # Socket Mode
#   docker run --env-file .env -p 3000:3000 ml-intern-slack --http   # HTTP mode (PORT=3000)
#
# Health: /healthz and /readyz on ML_INTERN_OPS_PORT (9100 here; in HTTP mode also on PORT).
FROM python:3.11-slim

# bubblewrap: the sandbox the host `bash` tool runs commands in (tools.bash_enabled, off by
# default). Debian's package, never a downloaded binary.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    XDG_STATE_HOME=/var/lib/ml-intern \
    ML_INTERN_OPS_PORT=9100 \
    PORT=3000

WORKDIR /src
COPY pyproject.toml README.md manifest.yml manifest.http.yml ./
COPY agent_core ./agent_core
COPY bot ./bot
COPY gateways ./gateways
COPY configs ./configs
RUN pip install . && rm -rf /src

# A non-root user; its state directory (sessions' workspaces, the SQLite file when no
# ML_INTERN_DB is given) is a volume in compose.yaml.
RUN useradd --create-home --uid 10001 mlintern \
    && mkdir -p /var/lib/ml-intern \
    && chown mlintern:mlintern /var/lib/ml-intern
USER mlintern
WORKDIR /home/mlintern

EXPOSE 3000 9100
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.ops.probe", "healthz"]
ENTRYPOINT ["ml-intern-slack", "serve"]
