"""Seed data and read-only content of the fake Hub: the default repo catalogue (with
datasets-server rows), papers (HF papers API + arXiv-like HTML), collections and docs pages.

Why seed data at all: the agent's research tools (``hf_papers``, ``hf_inspect_dataset``,
``explore_hf_docs``/``fetch_hf_docs``) are only meaningfully testable against realistic shapes —
daily-papers items wrapping a ``paper`` object, ``ltx_*`` arXiv HTML with h2/h3 sections, a
sidebar ``<nav class="flex-auto">`` on docs pages, a chat dataset whose rows carry
``messages`` lists. Tests can add their own entries through ``hub.papers``/``hub.docs``/``hub.repos``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .fake_hub_common import HubError, object_id, read_json
from .fake_hub_repos import RepoStore

if TYPE_CHECKING:
    from .fake_hub import FakeHub


# ---------------------------------------------------------------------------
# Default repo catalogue
# ---------------------------------------------------------------------------

CHAT_ROWS: list[dict[str, Any]] = [
    {
        "prompt": "How do I fine-tune a small language model on my own chat data?",
        "prompt_id": "a1f3",
        "messages": [
            {
                "role": "user",
                "content": "How do I fine-tune a small language model on my own chat data?",
            },
            {
                "role": "assistant",
                "content": "Use TRL's SFTTrainer: load your dataset with a `messages` column, pick a "
                "base model such as Qwen/Qwen2.5-0.5B, and call trainer.train().",
            },
        ],
    },
    {
        "prompt": "What is the difference between DPO and PPO?",
        "prompt_id": "b2e4",
        "messages": [
            {"role": "system", "content": "You are a helpful ML tutor."},
            {"role": "user", "content": "What is the difference between DPO and PPO?"},
            {
                "role": "assistant",
                "content": "DPO optimises preferences directly with a classification-style loss; "
                "PPO trains a reward model and uses on-policy RL.",
            },
        ],
    },
    {
        "prompt": "Summarise LoRA in one sentence.",
        "prompt_id": "c3d5",
        "messages": [
            {"role": "user", "content": "Summarise LoRA in one sentence."},
            {
                "role": "assistant",
                "content": "LoRA freezes the pretrained weights and learns low-rank update matrices.",
            },
        ],
    },
]

CHAT_FEATURES: dict[str, Any] = {
    "prompt": {"dtype": "string", "_type": "Value"},
    "prompt_id": {"dtype": "string", "_type": "Value"},
    "messages": {
        "feature": {
            "content": {"dtype": "string", "_type": "Value"},
            "role": {"dtype": "string", "_type": "Value"},
        },
        "_type": "List",
    },
}

IMDB_ROWS: list[dict[str, Any]] = [
    {
        "text": "I rented I AM CURIOUS-YELLOW from my video store because of all the controversy...",
        "label": 0,
    },
    {
        "text": "This movie was a masterpiece of quiet, patient storytelling. Loved every minute.",
        "label": 1,
    },
    {
        "text": "Terrible pacing and a script that goes nowhere. Two hours I will never get back.",
        "label": 0,
    },
    {
        "text": "A warm, funny film with a great cast; the ending made the whole theatre cheer.",
        "label": 1,
    },
]

IMDB_FEATURES: dict[str, Any] = {
    "text": {"dtype": "string", "_type": "Value"},
    "label": {"names": ["neg", "pos"], "_type": "ClassLabel"},
}


def _readme(front: dict[str, Any], body: str) -> str:
    lines = ["---"]
    for k, v in front.items():
        lines.append(f"{k}: {json.dumps(v)}")
    lines += ["---", "", body, ""]
    return "\n".join(lines)


def seed_default_repos(store: RepoStore) -> None:
    """A small but realistic Hub: public/gated/private models and datasets, arXiv-linked repos."""
    store.add(
        "openai-community/gpt2",
        files={
            "README.md": _readme(
                {"license": "mit", "language": "en"},
                "# GPT-2\n\nTest the whole generation capabilities here.",
            ),
            "config.json": json.dumps(
                {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": 12}
            ),
            "generation_config.json": json.dumps({"bos_token_id": 50256, "eos_token_id": 50256}),
            "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}),
        },
        downloads=9_800_000,
        likes=2900,
        trendingScore=12,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[
            "transformers",
            "pytorch",
            "safetensors",
            "gpt2",
            "text-generation",
            "en",
            "license:mit",
            "region:us",
        ],
    )
    store.add(
        "Qwen/Qwen2.5-0.5B-Instruct",
        files={
            "README.md": _readme(
                {
                    "license": "apache-2.0",
                    "base_model": "Qwen/Qwen2.5-0.5B",
                    "pipeline_tag": "text-generation",
                },
                "# Qwen2.5-0.5B-Instruct\n\nInstruction-tuned 0.5B model.",
            ),
            "config.json": json.dumps(
                {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}
            ),
        },
        downloads=1_200_000,
        likes=310,
        trendingScore=40,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[
            "transformers",
            "safetensors",
            "qwen2",
            "text-generation",
            "chat",
            "conversational",
            "base_model:Qwen/Qwen2.5-0.5B",
            "arxiv:2407.10671",
            "license:apache-2.0",
            "region:us",
        ],
    )
    store.add(
        "HuggingFaceH4/zephyr-7b-beta",
        files={
            "README.md": _readme(
                {"license": "mit", "datasets": ["HuggingFaceH4/ultrachat_200k"]},
                "# Zephyr 7B β\n\nA DPO-aligned Mistral fine-tune.",
            ),
            "config.json": json.dumps(
                {"architectures": ["MistralForCausalLM"], "model_type": "mistral"}
            ),
        },
        downloads=250_000,
        likes=1700,
        trendingScore=5,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[
            "transformers",
            "pytorch",
            "safetensors",
            "mistral",
            "text-generation",
            "generated_from_trainer",
            "conversational",
            "dataset:HuggingFaceH4/ultrachat_200k",
            "arxiv:2305.18290",
            "arxiv:2310.16944",
            "license:mit",
            "region:us",
        ],
    )
    store.add(
        "google-bert/bert-base-uncased",
        files={
            "config.json": json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"})
        },
        downloads=60_000_000,
        likes=2300,
        trendingScore=3,
        library_name="transformers",
        pipeline_tag="fill-mask",
        tags=[
            "transformers",
            "pytorch",
            "bert",
            "fill-mask",
            "en",
            "arxiv:1810.04805",
            "license:apache-2.0",
        ],
    )
    store.add(
        "meta-llama/Llama-3.2-1B",
        gated="manual",
        files={
            "README.md": _readme(
                {"license": "llama3.2", "extra_gated_prompt": "Accept the license"},
                "# Llama 3.2 1B",
            ),
            "config.json": json.dumps(
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
            ),
        },
        downloads=2_000_000,
        likes=1900,
        trendingScore=30,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[
            "transformers",
            "safetensors",
            "llama",
            "text-generation",
            "arxiv:2204.05149",
            "license:llama3.2",
        ],
    )
    store.add(
        "alice/private-sft-model",
        private=True,
        files={"README.md": "# private\n", "config.json": json.dumps({"model_type": "qwen2"})},
        library_name="transformers",
        tags=["transformers", "qwen2", "text-generation", "region:us"],
    )
    store.add(
        "acme-ml/qwen-sft-demo",
        files={
            "README.md": _readme(
                {"base_model": "Qwen/Qwen2.5-0.5B"}, "# qwen-sft-demo\n\nTrained with TRL SFT."
            )
        },
        downloads=12,
        likes=1,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[
            "transformers",
            "trl",
            "sft",
            "text-generation",
            "arxiv:2305.18290",
            "base_model:Qwen/Qwen2.5-0.5B",
        ],
    )

    # -- datasets ------------------------------------------------------------------------------
    store.add(
        "stanfordnlp/imdb",
        repo_type="dataset",
        files={
            "README.md": _readme(
                {"license": "other", "task_categories": ["text-classification"]},
                "# IMDB\n\nLarge Movie Review Dataset.",
            ),
            "plain_text/train-00000-of-00001.parquet": b"PAR1fake-parquet-bytes",
        },
        downloads=180_000,
        likes=300,
        trendingScore=4,
        description="Large Movie Review Dataset. This is a dataset for binary sentiment classification.",
        tags=[
            "task_categories:text-classification",
            "task_ids:sentiment-classification",
            "language:en",
            "size_categories:10K<n<100K",
            "format:parquet",
            "modality:text",
            "library:datasets",
            "region:us",
        ],
    )
    store.add_viewer_split(
        "stanfordnlp/imdb",
        "plain_text",
        "train",
        IMDB_ROWS,
        features=IMDB_FEATURES,
        num_rows_total=25000,
    )
    store.add_viewer_split(
        "stanfordnlp/imdb", "plain_text", "test", IMDB_ROWS[::-1], num_rows_total=25000
    )
    store.add_viewer_split(
        "stanfordnlp/imdb", "plain_text", "unsupervised", IMDB_ROWS[:2], num_rows_total=50000
    )

    store.add(
        "HuggingFaceH4/ultrachat_200k",
        repo_type="dataset",
        files={
            "README.md": _readme(
                {"license": "mit", "language": ["en"]},
                "# UltraChat 200k\n\nFiltered UltraChat used to train Zephyr.",
            )
        },
        downloads=45_000,
        likes=560,
        trendingScore=9,
        description="This is a heavily filtered version of the UltraChat dataset used to train Zephyr-7B-β.",
        tags=[
            "task_categories:text-generation",
            "language:en",
            "license:mit",
            "size_categories:100K<n<1M",
            "format:parquet",
            "modality:text",
            "library:datasets",
            "arxiv:2305.14233",
            "arxiv:2310.16944",
            "region:us",
        ],
    )
    for split, total in (("train_sft", 207865), ("test_sft", 23110), ("train_gen", 256032)):
        store.add_viewer_split(
            "HuggingFaceH4/ultrachat_200k",
            "default",
            split,
            CHAT_ROWS,
            features=CHAT_FEATURES,
            num_rows_total=total,
        )

    store.add(
        "trl-lib/Capybara",
        repo_type="dataset",
        files={"README.md": "# Capybara\n\nMulti-turn conversations in the TRL messages format.\n"},
        downloads=9_000,
        likes=40,
        trendingScore=2,
        description="Capybara conversations formatted for TRL.",
        tags=[
            "task_categories:text-generation",
            "format:parquet",
            "library:datasets",
            "trl",
            "region:us",
        ],
    )
    store.add_viewer_split(
        "trl-lib/Capybara",
        "default",
        "train",
        [{"messages": r["messages"]} for r in CHAT_ROWS],
        features={"messages": CHAT_FEATURES["messages"]},
        num_rows_total=15806,
    )
    store.add_viewer_split(
        "trl-lib/Capybara",
        "default",
        "test",
        [{"messages": CHAT_ROWS[0]["messages"]}],
        num_rows_total=200,
    )

    store.add(
        "acme-ml/gated-eval",
        repo_type="dataset",
        gated="auto",
        files={"README.md": "# gated eval set\n", "data/test.jsonl": '{"q": "2+2", "a": "4"}\n'},
        tags=["format:json", "region:us"],
    )
    store.add_viewer_split("acme-ml/gated-eval", "default", "test", [{"q": "2+2", "a": "4"}])
    store.add(
        "alice/private-data",
        repo_type="dataset",
        private=True,
        files={"data.csv": "a,b\n1,2\n"},
        tags=["format:csv"],
    )
    store.add_viewer_split("alice/private-data", "default", "train", [{"a": 1, "b": 2}])

    store.add(
        "acme-ml/trackio",
        repo_type="space",
        sdk="gradio",
        files={
            "README.md": "---\ntitle: trackio\nsdk: gradio\n---\n",
            "app.py": "import trackio\n",
        },
        tags=["gradio", "trackio", "region:us"],
    )


# ---------------------------------------------------------------------------
# Papers
# ---------------------------------------------------------------------------


@dataclass
class FakePaper:
    """A paper on the fake Hub; ``sections`` (title, paragraphs, subsections) feed the arXiv HTML."""

    id: str
    title: str
    summary: str
    authors: list[str]
    published_at: str
    submitted_on_daily_at: str
    upvotes: int = 0
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    organization: str | None = None
    num_comments: int = 0
    sections: list[tuple[str, list[str], list[tuple[str, list[str]]]]] | None = None
    discussion_id: str = field(default_factory=object_id)

    def paper_json(self) -> dict[str, Any]:
        """``/api/papers/{id}`` (and the ``paper`` object inside daily/search items)."""
        data: dict[str, Any] = {
            "id": self.id,
            "authors": [
                {"_id": object_id_for(self.id, i), "name": name, "hidden": False}
                for i, name in enumerate(self.authors)
            ],
            "mediaUrls": [],
            "publishedAt": self.published_at,
            "submittedOnDailyAt": self.submitted_on_daily_at,
            "title": self.title,
            "summary": self.summary,
            "upvotes": self.upvotes,
            "discussionId": self.discussion_id,
            "ai_keywords": self.ai_keywords,
        }
        if self.ai_summary:
            data["ai_summary"] = self.ai_summary
        if self.github_repo:
            data["githubRepo"] = self.github_repo
            data["githubStars"] = self.github_stars or 0
        if self.project_page:
            data["projectPage"] = self.project_page
        if self.organization:
            data["organization"] = {
                "_id": object_id_for(self.organization, 0),
                "name": self.organization,
                "fullname": self.organization,
            }
        return data

    def item_json(self) -> dict[str, Any]:
        """A ``/api/daily_papers`` or ``/api/papers/search`` item: a wrapper around ``paper``."""
        return {
            "paper": self.paper_json(),
            "publishedAt": self.submitted_on_daily_at,
            "title": self.title,
            "summary": self.summary,
            "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{self.id}.png",
            "numComments": self.num_comments,
            "submittedBy": {
                "_id": object_id_for("akhaliq", 0),
                "avatarUrl": "/avatars/akhaliq.svg",
                "fullname": "AK",
                "name": "akhaliq",
                "type": "user",
                "isPro": False,
            },
            "isAuthorParticipating": False,
        }


def object_id_for(seed: str, n: int) -> str:
    """Deterministic 24-hex ids for seed data (stable across runs)."""
    import hashlib

    return hashlib.sha1(f"{seed}:{n}".encode()).hexdigest()[:24]


def default_papers() -> list[FakePaper]:
    return [
        FakePaper(
            id="2305.18290",
            title="Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
            summary=(
                "While large-scale unsupervised language models learn broad world knowledge, achieving precise "
                "control of their behavior is difficult. We introduce Direct Preference Optimization (DPO), "
                "which solves the standard RLHF problem with only a simple classification loss."
            ),
            authors=[
                "Rafael Rafailov",
                "Archit Sharma",
                "Eric Mitchell",
                "Stefano Ermon",
                "Christopher D. Manning",
                "Chelsea Finn",
            ],
            published_at="2023-05-29T17:57:46.000Z",
            submitted_on_daily_at="2023-05-30T04:00:00.000Z",
            upvotes=64,
            ai_summary="DPO fine-tunes language models on human preferences with a simple classification loss instead of RL.",
            ai_keywords=[
                "Direct Preference Optimization",
                "DPO",
                "RLHF",
                "reward model",
                "preference learning",
            ],
            github_repo="https://github.com/eric-mitchell/direct-preference-optimization",
            github_stars=2600,
            sections=[
                (
                    "Introduction",
                    [
                        "Large unsupervised language models (LMs) trained on very large datasets acquire surprising capabilities.",
                        "Existing methods steer LMs using reinforcement learning from human feedback (RLHF).",
                    ],
                    [],
                ),
                (
                    "Related Work",
                    [
                        "Self-supervised language models of increasing scale learn to complete some tasks zero-shot."
                    ],
                    [],
                ),
                (
                    "Direct Preference Optimization",
                    [
                        "We derive a simple approach for policy optimization using preferences directly."
                    ],
                    [
                        (
                            "Deriving the DPO objective",
                            [
                                "We start with the same RL objective as prior work under a general reward function r."
                            ],
                        ),
                        (
                            "What does the DPO update do?",
                            ["The gradient increases the likelihood of preferred completions."],
                        ),
                    ],
                ),
                (
                    "Experiments",
                    [
                        "We evaluate DPO on sentiment generation, summarization and single-turn dialogue; beta = 0.1 works well."
                    ],
                    [],
                ),
                (
                    "Discussion",
                    ["DPO is a simple training paradigm for learning from preferences without RL."],
                    [],
                ),
            ],
        ),
        FakePaper(
            id="2106.09685",
            title="LoRA: Low-Rank Adaptation of Large Language Models",
            summary=(
                "We propose Low-Rank Adaptation, or LoRA, which freezes the pre-trained model weights and injects "
                "trainable rank decomposition matrices into each layer of the Transformer architecture."
            ),
            authors=[
                "Edward J. Hu",
                "Yelong Shen",
                "Phillip Wallis",
                "Zeyuan Allen-Zhu",
                "Yuanzhi Li",
                "Shean Wang",
                "Lu Wang",
                "Weizhu Chen",
            ],
            published_at="2021-06-17T17:37:18.000Z",
            submitted_on_daily_at="2023-01-10T04:00:00.000Z",
            upvotes=48,
            ai_keywords=["LoRA", "low-rank adaptation", "parameter-efficient fine-tuning", "PEFT"],
            github_repo="https://github.com/microsoft/LoRA",
            github_stars=11000,
            sections=[
                (
                    "Introduction",
                    [
                        "Many applications rely on adapting one large-scale pre-trained model to multiple tasks."
                    ],
                    [],
                ),
                (
                    "Our Method",
                    ["We describe the simple design of LoRA and its practical benefits."],
                    [("Low-Rank-Parametrized Update Matrices", ["W0 + BA with rank r."])],
                ),
                (
                    "Empirical Experiments",
                    ["We evaluate on RoBERTa, DeBERTa, GPT-2 and GPT-3 175B."],
                    [],
                ),
            ],
        ),
        FakePaper(
            id="2310.16944",
            title="Zephyr: Direct Distillation of LM Alignment",
            summary="We aim to produce a smaller language model that is aligned to user intent, using distilled DPO (dDPO) on UltraFeedback.",
            authors=[
                "Lewis Tunstall",
                "Edward Beeching",
                "Nathan Lambert",
                "Nazneen Rajani",
                "Kashif Rasul",
            ],
            published_at="2023-10-25T19:25:16.000Z",
            submitted_on_daily_at="2023-10-26T04:00:00.000Z",
            upvotes=95,
            ai_keywords=["distilled DPO", "alignment", "UltraChat", "Zephyr"],
            github_repo="https://github.com/huggingface/alignment-handbook",
            github_stars=5000,
            organization="HuggingFaceH4",
            sections=[
                ("Introduction", ["Smaller open LLMs lack alignment with user intent."], []),
                ("Method", ["dSFT on UltraChat followed by dDPO on UltraFeedback."], []),
                (
                    "Experimental Details",
                    ["We fine-tune Mistral 7B for 3 epochs with the TRL library."],
                    [],
                ),
            ],
        ),
        FakePaper(
            id="2305.14233",
            title="Enhancing Chat Language Models by Scaling High-quality Instructional Conversations",
            summary="We present UltraChat, a large-scale multi-turn instructional conversation dataset.",
            authors=["Ning Ding", "Yulin Chen", "Bokai Xu"],
            published_at="2023-05-23T16:49:14.000Z",
            submitted_on_daily_at="2023-05-24T04:00:00.000Z",
            upvotes=12,
            ai_keywords=["UltraChat", "instruction tuning", "dataset"],
            sections=None,  # no HTML rendering: the papers tool must fall back to the abstract
        ),
        FakePaper(
            id="2402.03300",
            title="DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models",
            summary="We introduce DeepSeekMath 7B and Group Relative Policy Optimization (GRPO), a variant of PPO.",
            authors=["Zhihong Shao", "Peiyi Wang", "Qihao Zhu"],
            published_at="2024-02-05T18:55:32.000Z",
            submitted_on_daily_at="2024-02-06T04:00:00.000Z",
            upvotes=120,
            ai_summary="GRPO drops the value model of PPO and estimates baselines from group scores.",
            ai_keywords=[
                "GRPO",
                "Group Relative Policy Optimization",
                "mathematical reasoning",
                "reinforcement learning",
            ],
            sections=[
                (
                    "Introduction",
                    ["Mathematical reasoning poses a significant challenge for language models."],
                    [],
                ),
                (
                    "Reinforcement Learning",
                    ["We propose GRPO, which foregoes the critic model."],
                    [
                        (
                            "Group Relative Policy Optimization",
                            ["Sample a group of outputs and normalise rewards."],
                        )
                    ],
                ),
            ],
        ),
    ]


def arxiv_html(paper: FakePaper) -> str:
    """Render a paper like arxiv.org/html (LaTeXML ``ltx_*`` classes, h2 sections, h3 subsections)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(paper.title)}</title></head><body><div class='ltx_page_main'>",
        "<article class='ltx_document ltx_authors_1line'>",
        f"<h1 class='ltx_title ltx_title_document'>{html.escape(paper.title)}</h1>",
        "<div class='ltx_authors'>"
        + "".join(
            f"<span class='ltx_creator ltx_role_author'><span class='ltx_personname'>{html.escape(a)}</span></span>"
            for a in paper.authors
        )
        + "</div>",
        "<div class='ltx_abstract'><h6 class='ltx_title ltx_title_abstract'>Abstract</h6>",
        f"<p class='ltx_p'>{html.escape(paper.summary)}</p></div>",
    ]
    for i, (title, paragraphs, subsections) in enumerate(paper.sections or [], start=1):
        parts.append(f"<section class='ltx_section' id='S{i}'>")
        parts.append(
            f"<h2 class='ltx_title ltx_title_section'><span class='ltx_tag ltx_tag_section'>{i} </span>{html.escape(title)}</h2>"
        )
        for para in paragraphs:
            parts.append(f"<div class='ltx_para'><p class='ltx_p'>{html.escape(para)}</p></div>")
        for j, (sub_title, sub_paras) in enumerate(subsections, start=1):
            parts.append(f"<section class='ltx_subsection' id='S{i}.SS{j}'>")
            parts.append(
                f"<h3 class='ltx_title ltx_title_subsection'><span class='ltx_tag ltx_tag_subsection'>{i}.{j} </span>{html.escape(sub_title)}</h3>"
            )
            for para in sub_paras:
                parts.append(
                    f"<div class='ltx_para'><p class='ltx_p'>{html.escape(para)}</p></div>"
                )
            parts.append("</section>")
        parts.append("</section>")
    parts.append("</article></div></body></html>")
    return "\n".join(parts)


def paper_markdown(paper: FakePaper) -> str:
    """``/papers/{id}.md`` as ``HfApi.read_paper`` fetches it."""
    out = [
        f"# {paper.title}",
        "",
        f"Authors: {', '.join(paper.authors)}",
        "",
        "## Abstract",
        "",
        paper.summary,
        "",
    ]
    for i, (title, paragraphs, subsections) in enumerate(paper.sections or [], start=1):
        out += [f"## {i} {title}", "", *paragraphs, ""]
        for j, (sub_title, sub_paras) in enumerate(subsections, start=1):
            out += [f"### {i}.{j} {sub_title}", "", *sub_paras, ""]
    return "\n".join(out)


COLLECTION_TITLE_MAX = 59  # upstream cuts its artifact collection titles to this


class PaperStore:
    """Papers and collections on the fake Hub (``hub.papers``)."""

    def __init__(self, seed: bool = True) -> None:
        self.papers: dict[str, FakePaper] = {p.id: p for p in default_papers()} if seed else {}
        self.collections: list[dict[str, Any]] = default_collections() if seed else []

    def add(self, paper: FakePaper) -> FakePaper:
        self.papers[paper.id] = paper
        return paper

    def add_collection(
        self,
        *,
        title: str,
        owner: str,
        items: list[tuple[str, str]],
        description: str = "",
        upvotes: int = 0,
    ) -> dict[str, Any]:
        """Add a collection; ``items`` are ``(type, id)`` pairs like ``("paper", "2305.18290")``."""
        coll = _collection(title, owner, items, description, upvotes)
        self.collections.append(coll)
        return coll


def _collection(
    title: str, owner: str, items: list[tuple[str, str]], description: str, upvotes: int
) -> dict[str, Any]:
    slug_base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    slug = f"{owner}/{slug_base}-{object_id_for(title, 1)}"
    return {
        "slug": slug,
        "title": title,
        "description": description,
        "gating": False,
        "lastUpdated": "2025-01-15T10:00:00.000Z",
        "owner": {
            "_id": object_id_for(owner, 2),
            "name": owner,
            "fullname": owner,
            "type": "org",
            "avatarUrl": "",
        },
        "items": [
            {"_id": object_id_for(f"{slug}:{i}", 3), "id": item_id, "type": kind, "position": i}
            for i, (kind, item_id) in enumerate(items)
        ],
        "theme": "indigo",
        "private": False,
        "upvotes": upvotes,
        "isUpvotedByUser": False,
        "shareUrl": f"https://hf.co/collections/{slug}",
    }


def _one(coll: dict[str, Any]) -> dict[str, Any]:
    """A single collection as the Hub answers it: with the owner's ``position`` (the list
    endpoint leaves it out; huggingface_hub's list_collections fills it from the index)."""
    return {**coll, "position": 0}


def default_collections() -> list[dict[str, Any]]:
    return [
        _collection(
            "Alignment Handbook",
            "HuggingFaceH4",
            [
                ("paper", "2305.18290"),
                ("paper", "2310.16944"),
                ("model", "HuggingFaceH4/zephyr-7b-beta"),
                ("dataset", "HuggingFaceH4/ultrachat_200k"),
            ],
            "Recipes and artifacts to align LLMs with DPO.",
            120,
        ),
        _collection(
            "Preference optimisation papers",
            "trl-lib",
            [("paper", "2305.18290"), ("paper", "2402.03300")],
            "",
            30,
        ),
    ]


# ---------------------------------------------------------------------------
# Docs
# ---------------------------------------------------------------------------


def _doc_pages() -> dict[str, list[tuple[str, str, str]]]:
    """endpoint -> [(page path, title, markdown)]."""
    return {
        "trl": [
            (
                "index",
                "TRL - Transformer Reinforcement Learning",
                "# TRL - Transformer Reinforcement Learning\n\nTRL is a full stack library for post-training foundation models with SFT, GRPO and DPO.\n",
            ),
            ("installation", "Installation", "# Installation\n\n```bash\npip install trl\n```\n"),
            (
                "quickstart",
                "Quickstart",
                '# Quickstart\n\n```python\nfrom trl import SFTTrainer\ntrainer = SFTTrainer(model="Qwen/Qwen2.5-0.5B", train_dataset=dataset)\ntrainer.train()\n```\n',
            ),
            (
                "sft_trainer",
                "SFT Trainer",
                "# SFT Trainer\n\nSupervised fine-tuning with `SFTTrainer` and `SFTConfig`. Datasets with a `messages` column are formatted with the chat template.\n\n## Key arguments\n\n- `max_length`\n- `packing`\n- `push_to_hub` and `hub_model_id`\n",
            ),
            (
                "dpo_trainer",
                "DPO Trainer",
                "# DPO Trainer\n\nDirect Preference Optimization needs `prompt`, `chosen` and `rejected` columns. `beta` controls the deviation from the reference model.\n",
            ),
            (
                "grpo_trainer",
                "GRPO Trainer",
                "# GRPO Trainer\n\nGroup Relative Policy Optimization with reward functions. Use `num_generations` to set the group size.\n",
            ),
            (
                "jobs_training",
                "Training using Jobs",
                "# Training using Jobs\n\n```bash\nhf jobs uv run --flavor a10g-large trl/scripts/sft.py\n```\n",
            ),
        ],
        "transformers": [
            (
                "index",
                "Transformers",
                "# Transformers\n\nState-of-the-art pretrained models for inference and training.\n",
            ),
            (
                "installation",
                "Installation",
                "# Installation\n\n```bash\npip install transformers\n```\n",
            ),
            (
                "quicktour",
                "Quickstart",
                "# Quickstart\n\nLoad a model with `AutoModelForCausalLM.from_pretrained`.\n",
            ),
            (
                "main_classes/trainer",
                "Trainer",
                "# Trainer\n\nThe `Trainer` class provides an API for feature-complete training. Use `TrainingArguments` to set `learning_rate`, `num_train_epochs`, `bf16` and `logging_steps`.\n",
            ),
            (
                "chat_templating",
                "Chat templates",
                "# Chat templates\n\n`tokenizer.apply_chat_template(messages)` renders a list of `{role, content}` messages.\n",
            ),
            (
                "peft",
                "PEFT",
                "# PEFT\n\nAttach LoRA adapters with `model.add_adapter(LoraConfig(r=16))`.\n",
            ),
        ],
        "datasets": [
            ("index", "Datasets", "# Datasets\n\nLoad, process and share datasets.\n"),
            (
                "installation",
                "Installation",
                "# Installation\n\n```bash\npip install datasets\n```\n",
            ),
            (
                "load_hub",
                "Load a dataset from the Hub",
                '# Load a dataset from the Hub\n\n```python\nfrom datasets import load_dataset\nds = load_dataset("stanfordnlp/imdb", split="train")\n```\n',
            ),
            (
                "process",
                "Process",
                "# Process\n\nUse `map`, `filter`, `select` and `train_test_split`.\n",
            ),
            (
                "stream",
                "Stream",
                "# Stream\n\nPass `streaming=True` to iterate without downloading.\n",
            ),
        ],
        "hub": [
            (
                "index",
                "Hugging Face Hub documentation",
                "# Hugging Face Hub documentation\n\nThe Hub hosts models, datasets and Spaces.\n",
            ),
            (
                "repositories",
                "Repositories",
                "# Repositories\n\nGit-based repositories with branches, tags and pull requests.\n",
            ),
            (
                "models-uploading",
                "Uploading models",
                "# Uploading models\n\nUse `HfApi.upload_file` or `push_to_hub`.\n",
            ),
            (
                "datasets-viewer",
                "Dataset viewer",
                "# Dataset viewer\n\nThe viewer is powered by the datasets-server API (`/splits`, `/first-rows`, `/parquet`).\n",
            ),
            (
                "jobs",
                "Jobs",
                "# Jobs\n\nRun compute jobs on Hugging Face infrastructure. Flavors include `cpu-basic`, `t4-small`, `a10g-large` and `a100-large`; jobs are billed per minute.\n",
            ),
            (
                "spaces-overview",
                "Spaces Overview",
                "# Spaces Overview\n\nSpaces host ML demo apps with Gradio, Docker or static HTML.\n",
            ),
        ],
    }


class DocsStore:
    """Docs pages of the fake Hub (``hub.docs``): ``add_page(endpoint, page, title, markdown)``."""

    def __init__(self, seed: bool = True) -> None:
        self.pages: dict[str, dict[str, tuple[str, str]]] = {}
        if seed:
            for endpoint, pages in _doc_pages().items():
                for page, title, md in pages:
                    self.add_page(endpoint, page, title, md)

    def add_page(self, endpoint: str, page: str, title: str, markdown: str) -> None:
        self.pages.setdefault(endpoint, {})[page] = (title, markdown)

    def sidebar(self, endpoint: str) -> str:
        links = "\n".join(
            f'<li><a class="transform py-1 pr-2 pl-2 text-gray-500 first:mt-1 hover:translate-x-px" '
            f'href="/docs/{endpoint}/{page}">{html.escape(title)}</a></li>'
            for page, (title, _) in self.pages[endpoint].items()
        )
        return (
            '<nav class="flex-auto overflow-y-auto py-3 lg:block dark:border-gray-800">'
            f"<h3 class='flex items-center'>{html.escape(endpoint)}</h3><ul class='pt-2'>\n{links}\n</ul></nav>"
        )

    def html_page(self, endpoint: str, page: str | None) -> str:
        title, md = (
            self.pages[endpoint][page] if page else next(iter(self.pages[endpoint].values()))
        )
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head><body>"
            "<div class='flex min-h-screen'><aside class='w-[270px] border-r'>"
            f"{self.sidebar(endpoint)}</aside>"
            f"<main class='prose'><pre>{html.escape(md)}</pre></main></div></body></html>"
        )


# ---------------------------------------------------------------------------
# HTTP service
# ---------------------------------------------------------------------------


class ContentService:
    """Routes for papers, collections, docs and the arXiv-like HTML."""

    def __init__(self, hub: FakeHub, papers: PaperStore, docs: DocsStore, repos: RepoStore) -> None:
        self.hub = hub
        self.papers = papers
        self.docs = docs
        self.repos = repos

    def register(self, router: Any) -> None:
        add = router.add
        add("GET", "/api/daily_papers", self.daily_papers, "papers.daily")
        add("GET", "/api/papers/search", self.search_papers, "papers.search")
        add("GET", "/api/papers/{paper_id}", self.paper, "papers.info")
        add("GET", "/papers/{paper_id}.md", self.paper_md, "papers.markdown")
        add("GET", "/api/collections", self.collections, "collections.list")
        # Creation and items: the paths and bodies of HfApi.create_collection /
        # add_collection_item / get_collection (huggingface_hub 1.33, hf_api.py).
        add("POST", "/api/collections", self.create_collection, "collections.create")
        add("GET", "/api/collections/{ns}/{slug}", self.get_collection, "collections.get")
        add("POST", "/api/collections/{ns}/{slug}/items", self.add_item, "collections.add_item")
        add("GET", "/arxiv-html/{paper_id}", self.arxiv, "arxiv.html")
        add("GET", "/ar5iv-html/{paper_id}", self.arxiv, "arxiv.html")
        add("GET", "/docs/{endpoint}", self.docs_index, "docs.index")
        add("GET", "/docs/{endpoint}/{page:.+\\.md}", self.docs_md, "docs.markdown")
        add("GET", "/docs/{endpoint}/{page:.+}", self.docs_html, "docs.page")

    def _paper(self, paper_id: str) -> FakePaper:
        paper = self.papers.papers.get(re.sub(r"v\d+$", "", paper_id))
        if paper is None:
            raise HubError(404, "Paper not found")
        return paper

    async def daily_papers(self, request: web.Request, p: dict[str, str]) -> web.Response:
        q = request.rel_url.query
        items = list(self.papers.papers.values())
        if date := q.get("date"):
            items = [x for x in items if x.submitted_on_daily_at.startswith(date)]
        if q.get("sort") == "trending" or q.get("sort") is None:
            items.sort(key=lambda x: (x.upvotes, x.submitted_on_daily_at), reverse=True)
        else:
            items.sort(key=lambda x: x.submitted_on_daily_at, reverse=True)
        limit = int(q.get("limit", "50"))
        page = int(q.get("p", "0"))
        items = items[page * limit : (page + 1) * limit]
        return web.json_response([x.item_json() for x in items])

    async def search_papers(self, request: web.Request, p: dict[str, str]) -> web.Response:
        q = request.rel_url.query
        terms = [t for t in re.split(r"\W+", (q.get("q") or "").lower()) if t]
        scored = []
        for paper in self.papers.papers.values():
            hay = " ".join([paper.id, paper.title, paper.summary, *paper.ai_keywords]).lower()
            score = sum(1 for t in terms if t in hay)
            if score or not terms:
                scored.append((score, paper.upvotes, paper))
        scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
        limit = int(q.get("limit", "50"))
        return web.json_response([paper.item_json() for _, _, paper in scored[:limit]])

    async def paper(self, request: web.Request, p: dict[str, str]) -> web.Response:
        return web.json_response(self._paper(p["paper_id"]).paper_json())

    async def paper_md(self, request: web.Request, p: dict[str, str]) -> web.Response:
        return web.Response(
            text=paper_markdown(self._paper(p["paper_id"])), content_type="text/markdown"
        )

    def _visible(self, request: web.Request, coll: dict[str, Any]) -> bool:
        """Private collections are seen by their owner (user or member of the org) only."""
        if not coll.get("private"):
            return True
        auth = self.hub.authenticate(request)
        return auth is not None and coll["owner"]["name"] in auth.user.namespaces

    def _find(self, request: web.Request, slug: str) -> dict[str, Any]:
        for coll in self.papers.collections:
            if coll["slug"] == slug and self._visible(request, coll):
                return coll
        raise HubError(404, "Collection not found")

    async def create_collection(self, request: web.Request, p: dict[str, str]) -> web.Response:
        auth = self.hub.require_auth(request, write=True)
        body = await read_json(request, {})
        title = str(body.get("title") or "").strip()
        namespace = str(body.get("namespace") or "")
        if not title:
            raise HubError(400, "title is required")
        if len(title) > COLLECTION_TITLE_MAX:
            raise HubError(400, f"title must be at most {COLLECTION_TITLE_MAX} characters")
        if namespace not in auth.user.namespaces:
            raise HubError(403, f"You don't have the rights to create a collection in {namespace}")
        for coll in self.papers.collections:
            if coll["owner"]["name"] == namespace and coll["title"] == title:
                raise HubError(
                    409, "Collection already exists", body={"error": "exists", "slug": coll["slug"]}
                )
        coll = _collection(title, namespace, [], str(body.get("description") or ""), 0)
        coll["private"] = bool(body.get("private"))
        self.papers.collections.append(coll)
        return web.json_response(_one(coll))

    async def get_collection(self, request: web.Request, p: dict[str, str]) -> web.Response:
        return web.json_response(_one(self._find(request, f"{p['ns']}/{p['slug']}")))

    async def add_item(self, request: web.Request, p: dict[str, str]) -> web.Response:
        auth = self.hub.require_auth(request, write=True)
        coll = self._find(request, f"{p['ns']}/{p['slug']}")
        if coll["owner"]["name"] not in auth.user.namespaces:
            raise HubError(403, "You don't have the rights to edit this collection")
        item = (await read_json(request, {})).get("item") or {}
        kind, ident = str(item.get("type") or ""), str(item.get("id") or "")
        if kind not in ("model", "dataset", "space", "paper", "collection") or not ident:
            raise HubError(400, "item must have a valid type and id")
        if any(i["type"] == kind and i["id"] == ident for i in coll["items"]):
            raise HubError(409, "Item already in the collection")
        position = len(coll["items"])
        coll["items"].append(
            {
                "_id": object_id_for(f"{coll['slug']}:{position}", 3),
                "id": ident,
                "type": kind,
                "position": position,
            }
        )
        return web.json_response(_one(coll))

    async def collections(self, request: web.Request, p: dict[str, str]) -> web.Response:
        q = request.rel_url.query
        items = [c for c in self.papers.collections if self._visible(request, c)]
        wanted: list[tuple[str, str]] = []
        if paper := q.get("paper"):
            wanted.append(("paper", paper))
        for item in q.getall("item", []):
            kind, _, ident = item.partition("/")
            singular = {
                "papers": "paper",
                "models": "model",
                "datasets": "dataset",
                "spaces": "space",
            }
            wanted.append((singular.get(kind, kind), ident))
        for kind, ident in wanted:
            items = [
                c for c in items if any(i["type"] == kind and i["id"] == ident for i in c["items"])
            ]
        for owner in q.getall("owner", []):
            items = [c for c in items if c["owner"]["name"] == owner]
        items.sort(key=lambda c: c["upvotes"], reverse=True)
        if limit := q.get("limit"):
            items = items[: int(limit)]
        return web.json_response(items)

    async def arxiv(self, request: web.Request, p: dict[str, str]) -> web.Response:
        paper = self.papers.papers.get(re.sub(r"v\d+$", "", p["paper_id"]))
        if paper is None or not paper.sections:
            return web.Response(
                status=404,
                text="<html><body><h1>No HTML for this paper</h1></body></html>",
                content_type="text/html",
            )
        return web.Response(text=arxiv_html(paper), content_type="text/html")

    def _endpoint(self, name: str) -> str:
        if name not in self.docs.pages:
            raise HubError(404, f"Documentation '{name}' not found")
        return name

    async def docs_index(self, request: web.Request, p: dict[str, str]) -> web.Response:
        endpoint = self._endpoint(p["endpoint"])
        return web.Response(text=self.docs.html_page(endpoint, None), content_type="text/html")

    async def docs_md(self, request: web.Request, p: dict[str, str]) -> web.Response:
        endpoint = self._endpoint(p["endpoint"])
        page = p["page"][: -len(".md")]
        if page not in self.docs.pages[endpoint]:
            raise HubError(404, f"Page '{page}' not found in {endpoint} docs")
        return web.Response(text=self.docs.pages[endpoint][page][1], content_type="text/markdown")

    async def docs_html(self, request: web.Request, p: dict[str, str]) -> web.Response:
        endpoint = self._endpoint(p["endpoint"])
        page = p["page"]
        if page not in self.docs.pages[endpoint]:
            raise HubError(404, f"Page '{page}' not found in {endpoint} docs")
        return web.Response(text=self.docs.html_page(endpoint, page), content_type="text/html")


__all__ = [
    "CHAT_ROWS",
    "ContentService",
    "DocsStore",
    "FakePaper",
    "PaperStore",
    "arxiv_html",
    "seed_default_repos",
]
