"""Choosing the sandbox backend from the configuration, without touching the network.

Called where a host builds its :class:`~agent_core.tools.base.Services` (the bot's startup,
the terminal chat), *before* the tool router is built: whether a sandbox exists decides
whether ``bash``/``read``/``write``/``edit`` run in it or on the host. Starting it (the orphan
sweep, the idle reaper) happens later, off the first ack's path, in
:func:`agent_core.runtime.attach_sandboxes`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from huggingface_hub import HfApi, get_token

from ..config import Config
from ..redact import register_secret
from .local import LocalBackend
from .manager import SandboxManager
from .spaces import SpaceBackend


def default_local_root() -> Path:
    return Path(tempfile.gettempdir()) / "ml-intern-sandboxes"


def build_sandbox_manager(config: Config) -> SandboxManager | None:
    """The configured sandbox manager, or None when sandboxes are off (or ``auto`` and no
    HF token is available — ``hf auth login``'s cached token counts)."""
    cfg = config.sandbox
    backend_name = cfg.backend
    token = get_token()
    if backend_name == "auto":
        backend_name = "hf_space" if token else "off"
    if backend_name == "off":
        return None
    if backend_name == "local":
        backend = LocalBackend(
            Path(cfg.local_root) if cfg.local_root else default_local_root(),
            memory_mb=cfg.local_memory_mb,
            run_as=cfg.local_run_as,
            python=cfg.local_python,
        )
    else:
        if not token:
            raise ValueError(
                "sandbox.backend: hf_space needs a Hugging Face token; set HF_TOKEN "
                "(or run `hf auth login`), or choose sandbox.backend: local or off"
            )
        register_secret(token)
        backend = SpaceBackend(
            HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token),
            token,
            owner=cfg.space_owner,
            url_template=cfg.space_url_template,
            runtime_timeout_s=cfg.space_start_timeout_s,
        )
    return SandboxManager(
        backend, idle_timeout_s=cfg.idle_timeout_s, default_hardware=cfg.default_hardware
    )
