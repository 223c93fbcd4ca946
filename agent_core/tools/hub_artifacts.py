"""Provenance for what the agent publishes: an ``ml-intern`` tag and a card section naming the
conversation that produced the model or dataset (upstream: ``agent/core/hub_artifacts.py``).

Why: a model pushed by an agent is otherwise indistinguishable from one a person trained by
hand. The tag makes every artifact findable (``?other=ml-intern``); the section says where it
came from, so a colleague who finds it on the Hub can go back to the Slack thread that holds
the reasoning, the approvals and the logs.

Where it applies: ``hf_repo_git create_repo`` of a model or dataset writes a README with both;
``hf_repo_files upload`` of a model's or dataset's ``README.md`` gets them merged into the
uploaded text (idempotently: an existing section is replaced, the tag is added once). Spaces are
left alone (sandbox and dashboard Spaces are not artifacts). The front matter is parsed and
written with ``huggingface_hub.RepoCard``, so existing metadata (license, base_model, …) is
kept as is.

Every tagged repo is also added to a private collection per session and namespace,
``ml-intern-artifacts-<YYYY-MM-DD>-<8 hex of the session id>`` (upstream's name, ≤59 characters),
so a thread's outputs can be found together; its slug is kept in the session state.

Not done (upstream has it): tagging repos that a training script creates itself with
``push_to_hub`` (upstream injects a ``sitecustomize.py`` into jobs that monkey-patches ``HfApi``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

from huggingface_hub import RepoCard

log = logging.getLogger(__name__)

TAG = "ml-intern"
ARTIFACT_TYPES = ("model", "dataset")
BEGIN = "<!-- ml-intern:provenance -->"
END = "<!-- /ml-intern:provenance -->"
COLLECTION_TITLE_MAX = 59
STATE_KEY = "artifact_collections"  # session state: namespace -> collection slug
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)


def thread_reference(origin: dict[str, Any] | None) -> str:
    """Where the conversation happened, in words a reader of the card can follow."""
    origin = origin or {}
    permalink = str(origin.get("permalink") or "")
    if permalink.startswith("https://"):
        return f"[this Slack thread]({permalink})"
    channel, thread = origin.get("channel"), origin.get("thread_ts")
    if origin.get("platform") == "slack" and channel and thread:
        team = f" of workspace `{origin['team']}`" if origin.get("team") else ""
        return f"the Slack thread `{thread}` in channel `{channel}`{team}"
    return "a terminal session"


def provenance_section(
    repo_id: str, repo_type: str, origin: dict[str, Any] | None, session_id: str, now: datetime
) -> str:
    kind = "dataset" if repo_type == "dataset" else "model"
    usage = (
        f'from datasets import load_dataset\n\nds = load_dataset("{repo_id}")'
        if kind == "dataset"
        else f'from transformers import AutoModel\n\nmodel = AutoModel.from_pretrained("{repo_id}")'
    )
    return (
        f"{BEGIN}\n"
        "## Provenance\n\n"
        f"This {kind} was produced by ML Intern, an ML-engineering agent working in Slack, in "
        f"{thread_reference(origin)} (session `{session_id}`, {now:%Y-%m-%d}). The thread has "
        "the request, the approvals and the job logs behind it.\n\n"
        f"```python\n{usage}\n```\n"
        f"{END}\n"
    )


def with_provenance(
    readme: str,
    *,
    repo_id: str,
    repo_type: str,
    origin: dict[str, Any] | None,
    session_id: str,
    now: datetime | None = None,
) -> str:
    """``readme`` with the ``ml-intern`` tag in its front matter and one provenance section.

    A card whose front matter is not valid YAML keeps it byte for byte (we do not "repair" the
    author's metadata by dropping it); only the section is added, without the tag.
    """
    section = provenance_section(repo_id, repo_type, origin, session_id, now or datetime.now(UTC))
    text = readme or ""
    if not text.lstrip().startswith("---"):
        text = "---\n{}\n---\n" + text  # no front matter yet: start an empty one
    try:
        card = RepoCard(text, ignore_metadata_errors=True)
    except Exception as exc:  # broken YAML front matter
        log.warning(
            "card of %s has unreadable metadata (%s); adding the section only", repo_id, exc
        )
        return f"{_BLOCK.sub('', readme).rstrip()}\n\n{section}"
    tags = card.data.get("tags") or []
    tags = [tags] if isinstance(tags, str) else list(tags)
    if TAG not in tags:
        tags.append(TAG)
    card.data.tags = tags
    body = _BLOCK.sub("", card.text or "").rstrip() or f"# {repo_id.split('/')[-1]}"
    return f"---\n{card.data.to_yaml()}\n---\n\n{body}\n\n{section}"


def collection_title(session_id: str, now: datetime) -> str:
    digest = hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:8]
    return f"ml-intern-artifacts-{now:%Y-%m-%d}-{digest}"[:COLLECTION_TITLE_MAX]


async def add_to_collection(hub: Any, repo_id: str, repo_type: str, ctx: Any) -> str | None:
    """Put the artifact in this session's private collection (created on first use); its slug,
    or None. Failures are logged: the artifact itself is already published."""
    namespace = repo_id.split("/")[0]
    known: dict[str, str] = ctx.session_state.setdefault(STATE_KEY, {})
    what = f"the artifact collection of {namespace}"
    try:
        slug = known.get(namespace)
        if not slug:
            title = collection_title(ctx.session_id, datetime.now(UTC))
            collection = await hub.call(
                "create_collection",
                title=title,
                namespace=namespace,
                private=True,
                exists_ok=True,
                description="Models and datasets ML Intern published in one Slack thread.",
                what=what,
            )
            slug = known[namespace] = collection.slug
        await hub.call("add_collection_item", slug, repo_id, repo_type, exists_ok=True, what=what)
    except Exception:
        log.warning("could not add %s to its artifact collection", repo_id, exc_info=True)
        return None
    return slug


def is_card_upload(path: str, repo_type: str) -> bool:
    return repo_type in ARTIFACT_TYPES and path.strip("/").lower() == "readme.md"


async def tag_new_repo(hub: Any, repo_id: str, repo_type: str, ctx: Any) -> bool:
    """Write the provenance README into a just-created model/dataset repo.

    Failures are logged, not raised: the repo exists either way, and a missing card must not
    turn a successful ``create_repo`` into an error the model would retry.
    """
    if repo_type not in ARTIFACT_TYPES:
        return False
    text = with_provenance(
        "", repo_id=repo_id, repo_type=repo_type, origin=ctx.origin, session_id=ctx.session_id
    )
    try:
        await hub.call(
            "upload_file",
            path_or_fileobj=text.encode("utf-8"),
            path_in_repo="README.md",
            repo_id=repo_id,
            repo_type=repo_type,
            commit_message="Add ml-intern provenance card",
            what=f"{repo_type} {repo_id}",
        )
    except Exception:
        log.warning("could not write the provenance card of %s", repo_id, exc_info=True)
        return False
    await add_to_collection(hub, repo_id, repo_type, ctx)
    return True
