"""Every Hub failure as one short, actionable :class:`HubError` — one translator.

Failures reach us two ways: as exceptions from ``huggingface_hub`` / httpx
(:func:`translate_error`) and as HTTP answers of the raw GETs we make ourselves
(:func:`status_error`). Both end in :func:`error_for_status`, so a 401, a gated repo or a
billing refusal reads the same whichever way it came.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from ..redact import scrub_text

BILLING_URL = "https://huggingface.co/settings/billing"
TOKENS_URL = "https://huggingface.co/settings/tokens"
_BILLING_WORDS = re.compile(
    r"\b(402|payment required|billing|credits?|insufficient (funds|balance)|add a payment)\b",
    re.IGNORECASE,
)


class HubError(Exception):
    """A Hub failure phrased for the model (and a person): what happened, what to do.

    ``kind`` lets callers branch without parsing text: ``auth``, ``forbidden``, ``not_found``,
    ``gated``, ``billing``, ``namespace``, ``rate_limit``, ``unreachable``, ``bad_request``,
    ``server``, ``no_token``, ``error``.
    """

    def __init__(self, message: str, *, kind: str = "error", status: int | None = None) -> None:
        super().__init__(scrub_text(message))
        self.message = scrub_text(message)
        self.kind = kind
        self.status = status

    def __str__(self) -> str:
        return self.message


def is_billing_error(status: int | None, message: str) -> bool:
    return status == 402 or bool(_BILLING_WORDS.search(message or ""))


def billing_message(namespace: str | None) -> str:
    who = f"the '{namespace}' namespace" if namespace else "this account"
    return (
        f"The Hub refused the job because {who} has no credits or payment method for "
        f"Jobs (402). Add credits or a payment method at {BILLING_URL} (for an org: the org's "
        "billing settings), then ask me to submit it again. Nothing was started or charged."
    )


def no_token_error() -> HubError:
    return HubError(
        f"No Hugging Face token is configured. Set HF_TOKEN (a token from {TOKENS_URL}).",
        kind="no_token",
    )


def _gated(what: str, status: int | None) -> HubError:
    return HubError(
        f"{what or 'This repo'} is gated: the account behind the token has not been granted "
        "access. Open the repo page on the Hub, accept its terms (or request access), then "
        "retry.",
        kind="gated",
        status=status,
    )


def error_for_status(status: int, detail: str, what: str = "", *, code: str = "") -> HubError:
    """The error for an HTTP status (``detail``: the server's own words, ``code``: its
    ``X-Error-Code``). The one table every Hub failure with a status goes through."""
    subject = f" {what}" if what else ""
    about = f" for{subject}" if subject else ""
    lowered = detail.lower()
    if code == "GatedRepo" or (
        status in (401, 403) and ("gated" in lowered or "restricted" in lowered)
    ):
        return _gated(what, status)
    if status == 402 or (status == 403 and is_billing_error(status, detail)):
        return HubError(billing_message(None), kind="billing", status=status)
    if status == 401:
        return HubError(
            f"The Hub rejected the request (401){about}: the token is missing or invalid, or "
            f"the resource is private. Check that HF_TOKEN is valid ({TOKENS_URL}).",
            kind="auth",
            status=status,
        )
    if status == 403:
        return HubError(
            f"Permission denied (403){about}: {detail}. The token may be read-only or lack "
            "access to this namespace.",
            kind="forbidden",
            status=status,
        )
    if status == 404:
        return HubError(
            f"Not found (404):{subject or ' resource'}. {detail}".strip(),
            kind="not_found",
            status=status,
        )
    if status == 409:
        return HubError(f"Conflict (409): {detail}", kind="bad_request", status=status)
    if status in (400, 422):
        return HubError(
            f"The Hub rejected the request ({status}): {detail}", kind="bad_request", status=status
        )
    if status == 429:
        return HubError(
            "The Hub is rate-limiting these requests (429); wait a minute before retrying.",
            kind="rate_limit",
            status=status,
        )
    if status >= 500:
        return HubError(
            f"The Hub had an internal error ({status}){about}; try again shortly.",
            kind="server",
            status=status,
        )
    return HubError(f"Hub error ({status}){about}: {detail}", status=status)


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _header(headers: Any, name: str) -> str:
    try:
        return str(headers.get(name) or "")
    except Exception:  # a response without usable headers
        return ""


def _server_message(exc: BaseException) -> str:
    msg = getattr(exc, "server_message", None)
    if msg:
        return str(msg).strip()
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _not_found_messages(hf_errors: Any, subject: str) -> list[tuple[Any, str]]:
    """The "not found" exceptions of huggingface_hub, each with what to do about it."""
    return [
        (
            hf_errors.RepositoryNotFoundError,
            f"Not found:{subject or ' repository'}. Check the id (owner/name) and repo_type "
            "(model, dataset or space); a private repo is invisible to a token without access.",
        ),
        (
            hf_errors.RevisionNotFoundError,
            f"Revision not found{' for' + subject if subject else ''}. List branches/tags with "
            "hf_repo_git list_refs.",
        ),
        (
            hf_errors.EntryNotFoundError | hf_errors.RemoteEntryNotFoundError,
            f"File not found{' in' + subject if subject else ''}. List files with hf_repo_files "
            "list.",
        ),
        (
            hf_errors.JobNotFoundError,
            f"Job not found{':' + subject if subject else ''}. Check the id and the namespace "
            "(jobs of an org are only visible under that org's namespace).",
        ),
    ]


def translate_error(exc: BaseException, what: str = "", endpoint: str = "") -> HubError:
    """Map a huggingface_hub / httpx exception to a short :class:`HubError`."""
    if isinstance(exc, HubError):
        return exc
    from huggingface_hub import errors as hf_errors

    subject = f" {what}" if what else ""
    status = _status_of(exc)
    server = _server_message(exc)[:300]
    if isinstance(exc, hf_errors.GatedRepoError):
        return _gated(what, status)
    if isinstance(exc, hf_errors.LocalTokenNotFoundError):
        return no_token_error()
    for error_class, message in _not_found_messages(hf_errors, subject):
        if isinstance(exc, error_class):
            return HubError(message, kind="not_found", status=status or 404)
    if status is not None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return error_for_status(status, server, what, code=_header(headers, "X-Error-Code"))
    where = endpoint or "its endpoint"
    if isinstance(exc, httpx.TimeoutException):
        return HubError(
            f"The Hub at {where} did not answer in time; try again shortly.", kind="unreachable"
        )
    if isinstance(exc, httpx.TransportError | ConnectionError | OSError):
        return HubError(
            f"Could not reach the Hub at {where} ({type(exc).__name__}); try again shortly.",
            kind="unreachable",
        )
    return HubError(f"{type(exc).__name__}: {server}")


def status_error(status: int, headers: Any, body: bytes, what: str) -> HubError:
    """The error for an HTTP answer of one of our raw requests (same table as exceptions)."""
    detail = _header(headers, "X-Error-Message")
    if not detail and body:
        try:
            data = json.loads(body)
            if isinstance(data, dict):
                detail = str(data.get("error") or data.get("message") or "")
        except ValueError:
            detail = body.decode("utf-8", "replace")[:300]
    return error_for_status(
        status, detail.strip()[:300], what, code=_header(headers, "X-Error-Code")
    )
