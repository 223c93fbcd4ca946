"""The system prompt: renders with tools, date and session context, and teaches the playbook.

The playbook is upstream's ``system_prompt_v3`` in our words, adapted to Slack and to jobs that
run in the background. Each rule of it is one named case below: deleting or rewording a rule
away fails exactly that case.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent_core.prompts import render_system_prompt, system_prompt_renderer
from agent_core.prompts.session_context import SessionContext

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ALL_TOOLS = [
    "research",
    "hf_papers",
    "hf_jobs",
    "hf_inspect_dataset",
    "hf_repo_details",
    "sandbox_create",
    "bash",
    "read",
    "write",
    "edit",
    "plan_tool",
    "web_search",
]


def test_renders_tools_date_and_extra():
    text = render_system_prompt(
        ["research", "hf_jobs", "read", "write", "hub__model_search"], NOW, extra="Team: NLP."
    )
    assert "2025-06-01 (Sunday)" in text
    assert "- `research`: delegate" in text and "- `hf_jobs`:" in text
    assert "`hub__model_search`: tool from the 'hub' MCP server" in text
    assert "No shell here" in text and "No general web search" in text
    assert text.rstrip().endswith("Team: NLP.")
    for token in ("{tool_list}", "{date}", "{extra}", "{session_context}", "{job_outcomes}"):
        assert token not in text, token
    assert "{role, content}" in text  # literal braces survive (no str.format)


def test_custom_template(tmp_path):
    tpl = tmp_path / "p.md"
    tpl.write_text("Hi {date}. Tools: {tool_names}. {unknown}")
    text = render_system_prompt(["a", "b"], NOW, template_path=tpl)
    # A custom template without {session_context} still gets the context as a last section.
    assert text == (
        "Hi 2025-06-01 (Sunday). Tools: a, b. {unknown}\n\n"
        "# Session context\n- Date: 2025-06-01 (Sunday); timezone UTC (UTC+00:00).\n"
    )


def _playbook() -> str:
    return render_system_prompt(ALL_TOOLS, NOW).lower()


# rule name -> phrases (lower case) that must all be in the rendered prompt
PLAYBOOK_RULES: dict[str, tuple[str, ...]] = {
    # Slack adaptation
    "slack_short_thread_replies": ("slack thread", "be concise", "short summary"),
    "slack_people_steer_from_chat": ("steer you mid-task from the chat",),
    "approvals_are_buttons_not_questions": ("press *approve* on a card", "do not also ask"),
    "ask_before_spending_on_ambiguous_scale": ("ask before spending",),
    "rejected_approval_means_revise": ("if an approval is rejected",),
    # research loop
    "knowledge_is_outdated": ("your knowledge of ml libraries is outdated",),
    "research_before_writing_code": ("research before writing code",),
    "research_loop_anchor_paper": ("anchor paper",),
    "research_loop_citation_graph": ("citation graph", "`citation_graph`"),
    "research_loop_read_methods_sections": ("methods and experiments sections",),
    "research_loop_extract_recipe": ("extract the recipe", "attribute every result"),
    "research_subagent_parallel": ("`research`", "run in parallel"),
    # mistakes you will make
    "mistake_hallucinated_imports": ("hallucinated imports", "`run_name`"),
    "mistake_wrong_trainer_args": ("wrong trainer arguments",),
    "mistake_wrong_dataset_format": ("wrong dataset format",),
    "mistake_default_timeout": ("default timeout kills training", "30 minutes"),
    "mistake_lost_models": ("lost models", "push_to_hub=true", "hub_model_id"),
    "mistake_batch_failures": ("batch failures", "submit one, watch it start training"),
    "mistake_silent_dataset_substitution": ("silent dataset substitution",),
    "mistake_scope_changing_fixes": ("scope-changing fixes", "switching full fine-tuning to lora"),
    "mistake_compiling_flash_attn": ("compiling flash-attn", "`kernels` package"),
    # before writing code
    "model_existence_and_architecture_check": ("`hf_repo_details`", "never guess a model id"),
    "dataset_format_per_method": ("sft: `messages`", "dpo: `prompt`, `chosen`, `rejected`"),
    "training_logging_flags": (
        "disable_tqdm=true",
        'logging_strategy="steps"',
        "logging_first_step=true",
    ),
    "data_audit": ("# data audit", "class imbalance", "duplicates"),
    # trackio
    "trackio_section": ("# trackio", 'report_to="trackio"', "`trackio_space_id`"),
    "trackio_dashboard_link_in_summary": ("dashboard", "link appears on the job card"),
    # sandbox
    "smoke_test_in_cpu_sandbox": ("cpu-basic sandbox", "smoke-test it there"),
    "gpu_preflight_in_sandbox_with_approval": ("gpu preflight", "`sandbox_create`", "approval"),
    # jobs
    "preflight_checklist_before_hf_jobs": (
        "pre-flight check before every hf_jobs training run",
        "reference implementation",
        "dataset format verified",
        "timeout:",
        "at least 2h",
    ),
    "one_job_first_for_sweeps": ("submit one job first",),
    "hardware_sizing": ("# hardware sizing", "a100x8", "same 24 gb gpu"),
    "jobs_are_watched_not_polled": ("do not poll in a loop",),
    # failures
    "oom_recovery_order": (
        "gradient_accumulation_steps",
        "gradient_checkpointing=true",
        "a10g → a100 → a100x4 → a100x8",
    ),
    "no_silent_scope_change_on_failure": ("never change the requested model, dataset",),
    "change_approach_after_repeated_failure": ("fails twice for the same reason",),
    # completion
    "task_completion_checks": ("before you say you are done", "verifiably done"),
    "plan_tool_discipline": ("`plan_tool`", "never mark a failed or half-done item completed"),
    "autonomous_mode": ("# autonomous mode", 'do not ask "should i continue?"', "budget"),
    # safety
    "secrets_never_printed": ("never print, log or ask for tokens",),
    "private_by_default_with_provenance": ("private by default", "tagged `ml-intern`"),
}


@pytest.mark.parametrize("rule", sorted(PLAYBOOK_RULES))
def test_playbook_rule_is_present(rule: str):
    text = _playbook()
    missing = [phrase for phrase in PLAYBOOK_RULES[rule] if phrase not in text]
    assert not missing, f"rule {rule!r} lost its wording: {missing}"


def test_papers_hint_promises_only_offered_operations():
    """Our hint used to promise "follow citations" while hf_papers had no citation operation."""
    from agent_core.tools.hf_papers import OPERATIONS

    line = next(
        x
        for x in render_system_prompt(["hf_papers"], NOW).splitlines()
        if x.startswith("- `hf_papers`")
    )
    for op in ("citation_graph", "snippet_search", "recommend"):
        assert (op in line) == (op in OPERATIONS), (op, line)
    assert ("follow citations" in line) == ("citation_graph" in OPERATIONS)


@pytest.mark.parametrize(
    ("mode", "phrase"),
    [("resume", "you are woken with its outcome"), ("notify", "the thread is told")],
)
def test_job_outcome_sentence_matches_config(mode: str, phrase: str):
    text = render_system_prompt(["hf_jobs"], NOW, on_job_finished=mode)
    assert phrase in text


def test_session_context_section_names_account_and_timezone():
    from zoneinfo import ZoneInfo

    ctx = SessionContext(
        now=NOW.astimezone(ZoneInfo("Asia/Tokyo")),
        timezone="Asia/Tokyo",
        hf_user="alice",
        hf_orgs=("acme", "ml-team"),
    )
    text = render_system_prompt(["hf_jobs"], context=ctx)
    section = text.split("# Session context", 1)[1]
    assert "- Date: 2025-06-01 (Sunday); timezone Asia/Tokyo (UTC+09:00)." in section
    assert "Hugging Face account: `alice` (orgs: `acme`, `ml-team`)" in section
    assert "Today is 2025-06-01 (Sunday)." in text


def test_renderer_falls_back_when_template_is_gone(tmp_path):
    render = system_prompt_renderer(tmp_path / "gone.md")
    assert render(["a"]).startswith("You are ML Intern")


@pytest.mark.parametrize(
    ("tools", "note"),
    [
        (["hf_jobs"], "No shell here"),
        (["bash", "read"], "No sandbox here"),
        (["sandbox_create", "bash", "read"], None),
    ],
)
def test_tool_notes_say_where_code_runs(tools: list[str], note: str | None):
    text = render_system_prompt(tools, NOW)
    notes = [n for n in ("No shell here", "No sandbox here") if n in text]
    assert notes == ([note] if note else [])


def test_host_timezone_comes_from_tz(monkeypatch):
    from agent_core.prompts.session_context import resolve_timezone

    monkeypatch.setenv("TZ", "America/New_York")
    assert resolve_timezone(None)[1] == "America/New_York"
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0x")  # not an IANA name: local offset used
    assert resolve_timezone(None)[1]
    assert resolve_timezone("Asia/Tokyo")[1] == "Asia/Tokyo"  # config wins
