"""Turn the results of one ``python -m bench`` run into a table (Markdown) and a PNG chart.

Pure functions of the results dict, so the README's table and the printed one are the same
text, and a past ``bench/results/bench.json`` can be re-rendered with
``python -m bench.report bench/results/bench.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Row = tuple[str, str, str]  # section, measure, value


def _f(value: Any, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def _pcts(s: dict[str, Any] | None, keys: Iterable[str] = ("p50", "p95", "p99")) -> str:
    if not s or not s.get("n"):
        return "—"
    return " / ".join(_f(s.get(k), 1 if (s.get(k) or 0) < 10 else 0) for k in keys) + " ms"


def _methods(by_method: dict[str, Any]) -> str:
    short = {
        "chat.postMessage": "post",
        "chat.update": "update",
        "reactions.add": "react+",
        "reactions.remove": "react-",
        "assistant.threads.setStatus": "status",
    }
    return ", ".join(f"{short.get(m, m)} {_f(v)}" for m, v in by_method.items() if v)


def rows(results: dict[str, Any]) -> list[Row]:
    """The table, one (section, measure, value) per line; missing parts say why."""
    out: list[Row] = []
    bot = results.get("bot", {})

    cold = bot.get("cold", {})
    sec = "1. Cold start"
    if "error" in cold:
        out.append((sec, "error", cold["error"]))
    elif cold:
        n = cold["runs"]
        connect, first_ack = cold["connect_ms"], cold["first_ack_ms"]
        out += [
            (
                sec,
                f"process start → Socket Mode connected (p50 / max, {n} runs)",
                f"{_f(connect['p50'])} / {_f(connect['max'])} ms",
            ),
            (
                sec,
                "  of which the bot's own start(): store, engine, auth.test, socket (its log)",
                f"{_f(cold.get('self_reported_connect_s'), 2)} s; the rest is interpreter + imports",
            ),
            (
                sec,
                "process start → first event acked (p50 / max)",
                f"{_f(first_ack['p50'])} / {_f(first_ack['max'])} ms",
            ),
            (
                sec,
                "first event: envelope → ack (p50)",
                f"{_f(cold['first_event_ack_ms']['p50'], 1)} ms",
            ),
            (
                sec,
                "first answer after start (mention → answer, p50)",
                f"{_f(cold['first_answer_ms']['p50'])} ms",
            ),
            (
                sec,
                "  turns wait for the LLM client (litellm import), ready after (its log)",
                f"{_f(cold.get('llm_client_ready_s'), 1)} s",
            ),
            (sec, "RSS after the first turn", f"{_f(cold['rss_mb_after_first_turn'], 0)} MB"),
        ]

    steady = bot.get("steady", {})
    if "error" in steady:
        out.append(("2. Ack latency", "error", steady["error"]))
    elif steady:
        for level in ("1", "50", "200"):
            s = steady["ack_ms"][level]
            label = "1 at a time" if level == "1" else f"{level} concurrent mentions"
            out.append(("2. Ack latency (p50 / p95 / p99)", f"{label} (n={s['n']})", _pcts(s)))
        sec = "3. Turn overhead (zero-latency LLM)"
        for key, label in (("plain_turn", "plain answer"), ("two_tool_turn", "two tool calls")):
            t = steady[key]
            total, llm, own = t["total_ms"], t["llm_ms"], t["bot_ms"]
            share = (own["p50"] / total["p50"] * 100) if total.get("p50") else None
            out += [
                (
                    sec,
                    f"{label}: mention → answer posted (p50 / p95)",
                    f"{_f(total['p50'])} / {_f(total['p95'])} ms",
                ),
                (
                    sec,
                    f"{label}: LLM server time, {_f(t['llm_calls_per_turn'], 0)} call(s) (p50)",
                    f"{_f(llm['p50'], 1)} ms",
                ),
                (
                    sec,
                    f"{label}: the bot's own share (p50)",
                    f"{_f(own['p50'])} ms ({_f(share, 0)} %)",
                ),
            ]
        cpu = steady.get("cpu_ms_per_turn", {})
        for key, label in (
            ("plain_turns", "plain"),
            ("two_tool_turns", "two-tool"),
            ("burst200", "200-burst"),
        ):
            if key in cpu:
                c = cpu[key]
                out.append(
                    (
                        sec,
                        f"CPU per {label} turn: bot / emulator / LLM",
                        f"{_f(c.get('bot'))} / {_f(c.get('fake_slack'))} / {_f(c.get('llm'))} ms",
                    )
                )
        sec = "5. Concurrency (200 sessions)"
        c = steady["concurrency200"]
        out += [
            (
                sec,
                "answered / cross-talk / missing / duplicated",
                f"{c['answered']}/200 · {c['foreign_tokens']} · {c['missing']} · {c['duplicated']}",
            ),
            (
                sec,
                "all 200 answered after (LLM replies held 1 s)",
                f"{_f(c['all_answered_s'], 1)} s",
            ),
            (sec, "mention → answer (p50 / p95)", _pcts(c["answer_ms"], ("p50", "p95"))),
            (
                sec,
                "50-mention burst: mention → answer (p50 / p95)",
                _pcts(steady.get("burst50_answer_ms"), ("p50", "p95")),
            ),
            (
                sec,
                "RSS before / peak / after / after idle",
                " / ".join(
                    _f(c[k], 0)
                    for k in ("rss_mb_before", "rss_mb_peak", "rss_mb_after", "rss_mb_after_idle")
                )
                + " MB",
            ),
            (
                sec,
                f"RSS per idle session (after {c['idle_wait_s']:.0f} s idle)",
                f"{_f(c['rss_kb_per_idle_session'], 0)} KB",
            ),
        ]
        naive = steady.get("naive") or {}
        if naive:
            out += [
                (
                    sec,
                    "naive Bolt + litellm bot, same stack: 200 answered / missing / duplicated",
                    f"{naive['answered']}/200 · {naive['missing']} · {naive['duplicated']}",
                ),
                (
                    sec,
                    "naive: 200-burst mention → answer (p50 / p95)",
                    _pcts(naive.get("burst200_answer_ms"), ("p50", "p95")),
                ),
                (
                    sec,
                    "naive: 50-burst mention → answer (p50 / p95)",
                    _pcts(naive.get("burst50_answer_ms"), ("p50", "p95")),
                ),
                (sec, "naive: acks at 200 (p50 / p95 / p99)", _pcts(naive["ack_ms"]["200"])),
                (
                    sec,
                    "naive: CPU per 200-burst turn: bot / emulator / LLM",
                    " / ".join(
                        _f(naive["cpu_ms_per_turn"]["burst200"].get(k))
                        for k in ("bot", "fake_slack", "llm")
                    )
                    + " ms",
                ),
            ]

    calls = bot.get("calls", {})
    if "error" in calls:
        out.append(("4. Web API calls per turn", "error", calls["error"]))
    elif calls:
        sec = "4. Web API calls per turn (rate limits off)"
        for who in ("bot", "naive"):
            run = calls.get(f"{who}_nolimits", {})
            if "error" in run:
                out.append((sec, who, run["error"]))
                continue
            for kind, label in (
                ("short", "short answer"),
                ("two_tools", "two tool calls, short answer"),
                ("long", "10k chars / 2,000 chunks"),
                ("long_200_chunks", "10k chars / 200 chunks"),
            ):
                if kind in run:
                    k = run[kind]
                    out.append(
                        (
                            sec,
                            f"{who}: {label}",
                            f"{_f(k['calls_per_turn'])} ({_methods(k['by_method'])})",
                        )
                    )
        sec = "7. Rate limits on (Slack tiers enforced)"
        for who in ("bot", "naive"):
            run = calls.get(f"{who}_limits", {})
            if "error" in run:
                out.append((sec, who, run["error"]))
                continue
            if not run:
                continue
            added = calls.get(f"{who}_added_latency_ms", {})
            out.append(
                (
                    sec,
                    f"{who}: 429s per turn, short / long",
                    f"{_f(run['short']['r429_per_turn'])} / {_f(run['long']['r429_per_turn'])}",
                )
            )
            out.append(
                (
                    sec,
                    f"{who}: added latency p50, short / long",
                    f"{_f(added.get('short'))} / {_f(added.get('long'))} ms",
                )
            )
            b = run.get("same_channel_burst")
            if b:
                out.append(
                    (
                        sec,
                        f"{who}: {b['mentions']} mentions in one channel: answered · 429s · last answer",
                        f"{b['answered']}/{b['mentions']} · {b['r429_total']} · {_f(b['last_answer_s'], 1)} s",
                    )
                )

    restart = bot.get("restart", {})
    sec = "6. Restart (kill -9)"
    if "error" in restart:
        out.append((sec, "error", restart["error"]))
    elif restart:
        r = restart
        out += [
            (
                sec,
                "pending approvals / watched jobs at kill",
                f"{r['pending_approvals']} / {r['jobs_running_at_kill']}",
            ),
            (sec, "new process start → Socket Mode connected", f"{_f(r['restart_connect_ms'])} ms"),
            (
                sec,
                "LLM client ready after restart (bot's log)",
                f"{_f(r.get('llm_client_ready_after_restart_s'), 1)} s",
            ),
            (
                sec,
                "all approvals served (max, from restart)",
                f"{_f((r['approval_served_after_restart_ms'] or {}).get('max'))} ms ({r['approvals_served']}/{r['pending_approvals']})",
            ),
            (
                sec,
                "all watched jobs reported (max, from restart)",
                f"{_f((r['job_served_after_restart_ms'] or {}).get('max'))} ms ({r['jobs_served']}/{r['watched_jobs']})",
            ),
            (
                sec,
                "job finished on the Hub → card updated (p50 / max)",
                f"{_f(r['job_finish_to_card_ms'].get('p50'))} / {_f(r['job_finish_to_card_ms'].get('max'))} ms",
            ),
            (sec, "lost posts / duplicated posts", f"{r['lost_posts']} / {r['duplicated_posts']}"),
        ]

    long = bot.get("long", {})
    sec = "8. Long thread (one session)"
    if "error" in long:
        out.append((sec, "error", long["error"]))
    elif long:
        out += [
            (
                sec,
                f"bot CPU per turn, turns 2–10 / last 10 of {long['turns']}",
                f"{_f(long['cpu_ms_per_turn_first10'], 1)} / {_f(long['cpu_ms_per_turn_last10'], 1)} ms"
                f" (×{_f(long['growth'], 2)})",
            ),
            (
                sec,
                "mention → answer p50, turns 2–10 / last 10",
                f"{_f(long['answer_ms_first10'].get('p50'))} / {_f(long['answer_ms_last10'].get('p50'))} ms",
            ),
        ]

    eng = results.get("engine", {})
    if eng:
        sec = "Engine (in-process, bench_engine)"
        if "error" in eng:
            out.append((sec, "error", eng["error"]))
        else:
            out += [
                (
                    sec,
                    "plain turn overhead p50 / p95",
                    f"{_f(eng['plain_turn']['overhead_ms_p50'], 1)} / {_f(eng['plain_turn']['overhead_ms_p95'], 1)} ms",
                ),
                (
                    sec,
                    "two-tool turn overhead p50 / p95",
                    f"{_f(eng['two_tool_turn']['overhead_ms_p50'], 1)} / {_f(eng['two_tool_turn']['overhead_ms_p95'], 1)} ms",
                ),
                (
                    sec,
                    f"RSS per idle session ({eng['idle_memory']['sessions']} sessions)",
                    f"{_f(eng['idle_memory']['rss_kb_per_session'], 1)} KB",
                ),
            ]
    jobs = results.get("jobs", {})
    if jobs:
        sec = "Jobs (JobWatcher, bench_jobs)"
        if "error" in jobs:
            out.append((sec, "error", jobs["error"]))
        else:
            steady_phase = (jobs.get("polling_load", {}).get("phases") or {}).get(
                "running, steady (min 3-10)", {}
            )
            delay = (jobs.get("finish_delay") or {}).get("delay_real_equivalent_s_upper_bound", {})
            out += [
                (
                    sec,
                    "Hub requests per running job per minute (steady state)",
                    _f(steady_phase.get("total_per_job_per_min"), 2),
                ),
                (
                    sec,
                    "job finished → job_finished event, default polling (p50 / p95, upper bound)",
                    f"{_f(delay.get('p50'), 1)} / {_f(delay.get('p95'), 1)} s",
                ),
            ]
    from bench.bench_replicas import report_rows as replicas_rows

    out += replicas_rows(results.get("replicas"))
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = ["| section | measure | value |", "|---|---|---|"]
    last = None
    for section, measure, value in rows(results):
        lines.append(f"| {section if section != last else ''} | {measure} | {value} |")
        last = section
    env = results.get("environment", {})
    if env:
        lines.append("")
        lines.append(
            f"Machine: {env.get('cpus')} CPUs, Python {env.get('python')}, commit "
            f"{env.get('commit')}; load average at start {env.get('loadavg_start')}; other "
            f"processes used {_f(env.get('foreign_cpu_share'), 0)} % of the CPUs during the run."
        )
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> Path | None:
    """Latency distributions (CDFs) and calls per turn, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steady = results.get("bot", {}).get("steady", {})
    raw = steady.get("raw") if isinstance(steady, dict) else None
    calls = results.get("bot", {}).get("calls", {})
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    fig.suptitle("ml-intern-slack vs. loopback fakes — latency distributions", fontsize=13)

    def cdf(ax: Any, values: list[float], label: str, scale: float = 1000.0) -> None:
        data = sorted(v * scale for v in values)
        if data:
            ys = [(i + 1) / len(data) for i in range(len(data))]
            ax.step(data, ys, where="post", label=f"{label} (n={len(data)})")

    ax = axes[0][0]
    if raw:
        for level in ("1", "50", "200"):
            cdf(ax, raw["ack_s"][level], f"{level} concurrent")
        ax.set_xscale("log")
    ax.set_title("2. Socket Mode ack latency (envelope → ack)")
    ax.set_xlabel("ms (log)")
    ax.set_ylabel("fraction ≤ x")

    ax = axes[0][1]
    if raw:
        cdf(ax, raw["plain_total_s"], "plain: mention → answer")
        cdf(ax, raw["plain_llm_s"], "plain: LLM server time")
        cdf(ax, raw["tools_total_s"], "two tools: mention → answer")
        cdf(ax, raw["tools_llm_s"], "two tools: LLM server time")
        ax.set_xscale("log")
    ax.set_title("3. Turn latency with a zero-latency LLM")
    ax.set_xlabel("ms (log)")

    ax = axes[1][0]
    if raw:
        cdf(ax, raw.get("burst50_total_s", []), "50 at once", scale=1.0)
        cdf(ax, raw["burst200_total_s"], "200 at once (LLM held 1 s)", scale=1.0)
    ax.set_title("5. Mention → answer under concurrency")
    ax.set_xlabel("seconds")
    ax.set_ylabel("fraction ≤ x")

    ax = axes[1][1]
    labels, bot_vals, naive_vals = [], [], []
    for key, label in (
        ("short", "short"),
        ("long", "long\n2,000 chunks"),
        ("long_200_chunks", "long\n200 chunks"),
    ):
        b = calls.get("bot_nolimits", {}).get(key, {})
        n = calls.get("naive_nolimits", {}).get(key, {})
        if b or n:
            labels.append(label)
            bot_vals.append(b.get("calls_per_turn") or 0)
            naive_vals.append(n.get("calls_per_turn") or 0)
    if labels:
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], bot_vals, 0.4, label="ml-intern-slack")
        ax.bar([x + 0.2 for x in xs], naive_vals, 0.4, label="naive (edit per chunk)")
        ax.set_xticks(list(xs), labels)
        ax.set_yscale("log")
        for x, v in zip(xs, bot_vals, strict=True):
            ax.annotate(f"{v:.0f}", (x - 0.2, v), ha="center", va="bottom", fontsize=8)
        for x, v in zip(xs, naive_vals, strict=True):
            ax.annotate(f"{v:.0f}", (x + 0.2, v), ha="center", va="bottom", fontsize=8)
    ax.set_title("4. Slack Web API calls per turn (log), rate limits off")
    bot_on, naive_on = calls.get("bot_limits", {}), calls.get("naive_limits", {})
    if bot_on.get("long") and naive_on.get("long"):
        ax.text(
            0.02,
            0.97,
            "7. with Slack's tiers on, 429s per long turn:\n"
            f"   ml-intern-slack {_f(bot_on['long']['r429_per_turn'])}, "
            f"naive {_f(naive_on['long']['r429_per_turn'])}",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )

    for row in axes:
        for a in row:
            a.grid(True, alpha=0.3)
            if a.get_legend_handles_labels()[0]:
                a.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    src = Path(args[0] if args else Path(__file__).parent / "results" / "bench.json")
    results = json.loads(src.read_text())
    print(markdown(results))
    print(f"chart: {chart(results, src.with_name('latency.png'))}")


if __name__ == "__main__":
    main()
