"""One door to the Hugging Face Hub: the client (:mod:`.client`), its one error translator
(:mod:`.errors`) and the job-log stream (:mod:`.logs`). Hardware prices are parsed in
:mod:`agent_core.pricing`."""

from .client import HubClient, Identity
from .errors import (
    HubError,
    billing_message,
    error_for_status,
    is_billing_error,
    status_error,
    translate_error,
)
from .logs import LogTail, clean_log_line

__all__ = [
    "HubClient",
    "HubError",
    "Identity",
    "LogTail",
    "billing_message",
    "clean_log_line",
    "error_for_status",
    "is_billing_error",
    "status_error",
    "translate_error",
]
