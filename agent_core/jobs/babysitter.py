"""Watching a run the way its team would: series, health checks, and their preferences' rules.

The poller (:mod:`.polling`) hands every new log line and each bounded read of the Jobs
metrics stream to :class:`Babysitter`, which keeps one :class:`~.series.JobSeries` and one
:class:`~.health.HealthMonitor` per job (persisted in the job row, so a restart neither
forgets the curves nor re-announces an episode already reported). After each read it runs
the health checks with the thresholds of the preferences that apply to the job's thread
(:mod:`.preference_book`) and, for each *new* finding:

* emits ``job_health`` with what was seen (the numbers), the rule that matched and its
  ``only_if`` checks, the action (``warn`` when no rule matched, else ``alert`` / ``stop`` /
  ``propose_relaunch``), whether quiet hours hold (notifications are held back then; the
  thread still shows it), and — for a relaunch — the hyper-parameter change applied to the
  job's own command line;
* for ``propose_relaunch`` wakes the agent session with that evidence so it proposes the
  relaunch as an ``hf_jobs run`` — which goes through the normal approval card. ``stop`` is
  offered to people as a Cancel button (the gateway's, authorised like the job card's);
  nothing is ever stopped or spent without a person's click.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..events import EventType, SystemNote
from ..hub import HubError
from .health import Finding, HealthMonitor
from .hyperparams import describe_change, hyperparameters, normalize_name, with_values
from .preferences import Preferences, PreferencesError, Rule, apply_change, conditions_hold
from .series import JobSeries

if TYPE_CHECKING:
    from ..hub import HubClient
    from .preference_book import PreferenceBook
    from .records import JobRecord
    from .reporting import EmitFn, SubmitFn

log = logging.getLogger(__name__)

HARDWARE_SAMPLES = 2
HARDWARE_DEADLINE_S = 2.0
NOTE_TAIL_LINES = 12
COMMAND_MAX_CHARS = 20_000


@dataclass
class Babysit:
    """One job's curves and open health episodes (in memory; persisted via :meth:`persisted`)."""

    series: JobSeries = field(default_factory=JobSeries)
    monitor: HealthMonitor = field(default_factory=HealthMonitor)

    @classmethod
    def restore(cls, info: dict[str, Any]) -> Babysit:
        return cls(
            series=JobSeries.from_json(info.get("series")),
            monitor=HealthMonitor.from_json(info.get("health_active")),
        )

    def persisted(self) -> dict[str, Any]:
        return {"series": self.series.to_json(), "health_active": self.monitor.to_json()}


def job_hyperparameters(rec: JobRecord) -> dict[str, int | float]:
    command = rec.info.get("command")
    return hyperparameters(command) if isinstance(command, list) else {}


def relaunch_change(rec: JobRecord, rule: Rule) -> dict[str, Any]:
    """The rule's change applied to the job's command: before/after values and the command."""
    command = rec.info.get("command")
    if not isinstance(command, list):
        return {"error": "the job's command line is unknown, so its hyper-parameters are too"}
    current = hyperparameters(command)
    change = {normalize_name(k): v for k, v in rule.change.items()}
    try:
        after = apply_change(current, change)
    except PreferencesError as exc:
        return {"error": str(exc)}
    changed = {k: after[k] for k in change}
    return {
        "before": {k: current.get(k) for k in change},
        "after": changed,
        "lines": describe_change(current, changed),
        "command": with_values(command, changed),
        "image": rec.info.get("image"),
        "flavor": rec.flavor,
        "timeout_s": rec.timeout_s,
    }


def relaunch_note(data: dict[str, Any]) -> str:
    """The system note that wakes the agent to propose a relaunch (evidence + the exact call)."""
    change = data.get("change") or {}
    parts = [
        f"[SYSTEM: the training babysitter saw {data['condition']} on HF job {data['job_id']}: "
        f"{data['summary']}.",
        f"The team's rule: on {data['condition']} → propose_relaunch"
        + (f" (checked: {'; '.join(data.get('checks') or [])})" if data.get("checks") else "")
        + ".",
    ]
    if change.get("error"):
        parts.append(f"The change could not be applied: {change['error']}. Ask the team.")
    else:
        parts.append("Change to apply: " + ", ".join(change.get("lines") or []) + ".")
        parts.append(
            "Propose the relaunch now by calling hf_jobs with operation='run', "
            f"image={change.get('image')!r}, hardware_flavor={change.get('flavor')!r}, "
            f"timeout='{change.get('timeout_s') or 3600}s' and exactly this command: "
            f"{change.get('command')!r}. It goes through the normal approval card; do not "
            "cancel the current job yourself (the team has a Cancel button)."
        )
    tail = list(data.get("log_tail") or [])[-NOTE_TAIL_LINES:]
    if tail:
        parts.append("Last log lines:\n" + "\n".join(tail))
    return "\n".join(parts) + "]"


class Babysitter:
    """Series, health and rules for every watched job (see module docs)."""

    def __init__(
        self,
        hub: HubClient,
        emit: EmitFn,
        submit: SubmitFn | None,
        book: PreferenceBook | None,
        *,
        wall_clock: Callable[[], float],
        hardware_samples: int = HARDWARE_SAMPLES,
        hardware_deadline_s: float = HARDWARE_DEADLINE_S,
    ) -> None:
        self.hub = hub
        self.emit = emit
        self.submit = submit
        self.book = book
        self.wall = wall_clock
        self.hardware_samples = hardware_samples
        self.hardware_deadline_s = hardware_deadline_s

    def job_seconds(self, rec: JobRecord, started_wall: float | None) -> float:
        """Seconds since the job started (the x axis of the hardware series)."""
        return max(0.0, self.wall() - (started_wall or rec.submitted_at))

    def observe_logs(self, b: Babysit, lines: list[str], at: float) -> int:
        return b.series.add_log_lines(lines, at=at)

    async def observe_hardware(self, b: Babysit, rec: JobRecord, started: float | None) -> int:
        """One bounded read of the Jobs metrics stream into the hardware series."""
        try:
            samples = await self.hub.job_metrics_samples(
                rec.namespace,
                rec.job_id,
                self.hardware_samples,
                deadline_s=self.hardware_deadline_s,
            )
        except HubError as exc:
            log.info("metrics of job %s unavailable: %s", rec.job_id, exc.message)
            return 0
        if samples:
            # One point per read: the samples of one read are a second apart on the real
            # stream, indistinguishable on a chart spanning hours; the newest one stands.
            b.series.add_hardware(samples[-1], at=self.job_seconds(rec, started))
        return len(samples)

    async def preferences(self, rec: JobRecord) -> Preferences:
        if self.book is None:
            return Preferences(source="built-in defaults")
        return await self.book.for_session(rec.session_id, rec.origin)

    async def review(
        self,
        b: Babysit,
        rec: JobRecord,
        *,
        running: bool,
        started: float | None,
        snapshot: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """Run the checks; emit ``job_health`` for each new episode. Returns what was emitted."""
        prefs = await self.preferences(rec)
        b.monitor.thresholds = prefs.thresholds
        findings = b.monitor.update(b.series, now=self.job_seconds(rec, started), running=running)
        emitted = []
        for finding in findings:
            data = self.health_data(b, rec, finding, prefs, snapshot)
            await self.emit(rec.session_id, EventType.JOB_HEALTH, data)
            emitted.append(data)
            if data["action"] == "propose_relaunch" and self.submit is not None:
                try:
                    await self.submit(
                        rec.session_id, SystemNote(text=relaunch_note(data), resume=True)
                    )
                except Exception:
                    log.exception("could not wake the agent about job %s", rec.job_id)
        return emitted

    def health_data(
        self,
        b: Babysit,
        rec: JobRecord,
        finding: Finding,
        prefs: Preferences,
        snapshot: dict[str, Any],
    ) -> dict[str, Any]:
        chosen: Rule | None = None
        checks: list[str] = []
        for rule in prefs.rules_for(finding.condition):
            ok, seen = conditions_hold(rule, b.series, prefs)
            checks += seen
            if ok:
                chosen = rule
                break
        data: dict[str, Any] = {
            "job_id": rec.job_id,
            "url": rec.url,
            "flavor": rec.flavor,
            "condition": finding.condition,
            "summary": finding.summary,
            "numbers": finding.numbers,
            "action": chosen.do if chosen else "warn",
            "rule": chosen.model_dump() if chosen else None,
            "checks": checks,
            "quiet": prefs.quiet_now(datetime.fromtimestamp(self.wall(), UTC)),
            "notify": list(prefs.spec.notify),
            "preferences_source": prefs.source,
            "hyperparameters": job_hyperparameters(rec),
            "metrics": snapshot.get("metrics") or {},
            "log_tail": list(snapshot.get("log_tail") or [])[-NOTE_TAIL_LINES:],
            "stage": snapshot.get("stage"),
            "requester": rec.requester,
        }
        if chosen is not None and chosen.do == "propose_relaunch":
            data["change"] = relaunch_change(rec, chosen)
        return data
