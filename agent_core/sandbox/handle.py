"""What identifies a live sandbox, and the interface both backends implement."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol


class SandboxError(RuntimeError):
    """Creating, reaching or deleting a sandbox failed; the message says what to do."""


@dataclass
class SandboxHandle:
    """A running sandbox. ``token`` is its secret: never logged, never shown to the model."""

    id: str
    backend: str
    url: str
    hardware: str
    token: str = field(repr=False)
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """What may be shown or persisted in events: everything but the secret."""
        return {
            "id": self.id,
            "backend": self.backend,
            "url": self.url,
            "hardware": self.hardware,
            "created_at": self.created_at,
        }


class SandboxBackend(Protocol):
    name: str

    async def create(self, session_id: str, hardware: str) -> SandboxHandle: ...

    async def delete(self, handle: SandboxHandle) -> None: ...

    async def sweep_orphans(self, keep: set[str]) -> list[str]:
        """Delete sandboxes this backend created that no live session owns; return their ids."""
        ...

    def auth_token(self) -> str | None:
        """The credential for the sandbox's edge (an HF token for Spaces; none locally)."""
        ...
