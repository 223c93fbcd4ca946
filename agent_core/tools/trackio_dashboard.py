"""A Trackio dashboard Space for a training job (upstream: ``agent/tools/trackio_seed.py``).

Why: a job that reports to Trackio writes its metrics to the Space named by
``TRACKIO_SPACE_ID``. If nobody names one, the metrics stay inside the job's container and are
lost when it ends; if the Space does not exist yet, the link we give the team is a 404 until the
first ``trackio.init`` deploys it. So for ``hf_jobs run`` we:

1. decide the Space: the ``trackio_space_id`` the model passed, else — when the script reports
   to Trackio (``report_to="trackio"`` or ``import trackio``) — ``<namespace>/ml-intern-<8 hex>``
   in the job's namespace (a fresh id per run, as the playbook asks);
2. set ``TRACKIO_SPACE_ID`` (and ``TRACKIO_PROJECT`` when given) in the job's env;
3. seed the Space before submitting: ``create_repo(space, sdk=gradio, private, exist_ok)`` and,
   when it has no app yet, one commit with ``app.py`` (``trackio.show()``),
   ``requirements.txt`` and a README — so the link works from the first minute;
4. put the link in the job record's ``links`` (the job card shows it as a button).

Seeding errors are logged and never block the job (upstream does the same): the job still
reports to the Space, which Trackio creates itself on first use. An existing Space whose app is
not a Trackio dashboard is never overwritten — we do not clobber someone's demo because the
model picked its name — and is then not linked either.

Not done (upstream has it): the private storage bucket mounted at ``/data`` with
``TRACKIO_DIR``; Space variables for logos.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from huggingface_hub import CommitOperationAdd

from .hub_common import get_repo_file, require_hub

log = logging.getLogger(__name__)

SPACE_PREFIX = "ml-intern-"
_IMPORT = re.compile(r"^\s*(?:import\s+trackio\b|from\s+trackio\b)", re.M)
_REPORT_TO = re.compile(r"""report_to\s*=\s*[\[\(]?[^)\n]*?["']trackio["']""")
_SPACE_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
APP_PY = "import trackio\n\ntrackio.show()\n"
REQUIREMENTS = "trackio\n"
APP_MAX_BYTES = 64_000


def trackio_env(args: dict[str, Any]) -> dict[str, str]:
    """The Trackio variables a job gets from ``hf_jobs``'s ``trackio_*`` arguments."""
    names = (("trackio_space_id", "TRACKIO_SPACE_ID"), ("trackio_project", "TRACKIO_PROJECT"))
    return {env: str(args[arg]).strip() for arg, env in names if str(args.get(arg) or "").strip()}


def reports_to_trackio(source: str | None) -> bool:
    """Whether a training script sends its metrics to Trackio."""
    return bool(source) and bool(_IMPORT.search(source) or _REPORT_TO.search(source))


def new_space_id(namespace: str) -> str:
    return f"{namespace}/{SPACE_PREFIX}{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Dashboard:
    space_id: str
    project: str | None
    chosen_for_the_job: bool  # True when we picked the id (the model did not pass one)


def plan_dashboard(
    args: dict[str, Any], script_source: str | None, namespace: str
) -> Dashboard | None:
    """The dashboard this run should report to, or None (no Trackio in sight)."""
    env = args.get("env") if isinstance(args.get("env"), dict) else {}
    requested = str(args.get("trackio_space_id") or env.get("TRACKIO_SPACE_ID") or "").strip()
    project = str(args.get("trackio_project") or "").strip() or None
    if requested:
        return Dashboard(requested, project, chosen_for_the_job=False)
    if reports_to_trackio(script_source):
        return Dashboard(new_space_id(namespace), project, chosen_for_the_job=True)
    return None


async def pin_dashboard(args: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Before the approval card: choose the dashboard Space of a Trackio-reporting run, so the
    card shows the ``TRACKIO_SPACE_ID`` the job will get and the approved arguments carry it.

    ``args`` are already pinned (the script is its content). Without a namespace (the Hub cannot
    be asked right now) nothing is pinned and :func:`plan_dashboard` chooses at run time.
    """
    script = args.get("script") if isinstance(args.get("script"), str) else None
    if args.get("trackio_space_id") or not reports_to_trackio(
        script if script and "\n" in script else None
    ):
        return args
    try:
        namespace = await require_hub(ctx).resolve_namespace(
            str(args.get("namespace") or "").strip() or None
        )
    except Exception as exc:
        log.debug("no namespace for the Trackio Space yet: %s", exc)
        return args
    return {**args, "trackio_space_id": new_space_id(namespace)}


def _readme(space_id: str) -> str:
    name = space_id.split("/")[-1]
    return (
        "---\n"
        f"title: {name}\n"
        "emoji: 📈\n"
        "sdk: gradio\n"
        "app_file: app.py\n"
        "pinned: false\n"
        "tags:\n- trackio\n- ml-intern\n"
        "---\n\n"
        f"# {name}\n\nTrackio dashboard for training runs launched by ML Intern.\n"
    )


async def _existing_app(hub: Any, space_id: str) -> str | None:
    """``app.py`` of the Space, or None when it has none."""
    resp = await get_repo_file(hub, space_id, "app.py", repo_type="space", max_bytes=APP_MAX_BYTES)
    if resp.status_code == 404:
        return None
    if resp.status_code >= 400:
        raise RuntimeError(f"reading app.py of {space_id}: HTTP {resp.status_code}")
    return resp.text


async def seed_dashboard(hub: Any, space_id: str) -> str | None:
    """Make ``space_id`` a Trackio dashboard Space; its URL, or None when it could not be."""
    if not _SPACE_ID.match(space_id):
        log.warning("not seeding trackio Space %r: not a valid repo id", space_id)
        return None
    what = f"the Trackio Space {space_id}"
    try:
        await hub.call(
            "create_repo",
            space_id,
            repo_type="space",
            space_sdk="gradio",
            private=True,
            exist_ok=True,
            what=what,
        )
        app = await _existing_app(hub, space_id)
        if app is not None and "trackio" not in app:
            log.warning("Space %s has its own app; not turning it into a dashboard", space_id)
            return None
        if app is None:
            files = {
                "app.py": APP_PY,
                "requirements.txt": REQUIREMENTS,
                "README.md": _readme(space_id),
            }
            await hub.call(
                "create_commit",
                space_id,
                repo_type="space",
                operations=[
                    CommitOperationAdd(path_in_repo=p, path_or_fileobj=t.encode("utf-8"))
                    for p, t in files.items()
                ],
                commit_message="Trackio dashboard for ml-intern training runs",
                what=what,
            )
    except Exception as exc:  # never blocks the job: Trackio can still create it itself
        log.warning("could not seed the Trackio Space %s: %s", space_id, exc)
        return None
    return f"{hub.endpoint}/spaces/{space_id}"
