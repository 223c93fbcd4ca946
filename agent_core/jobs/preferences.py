"""A team's babysitting preferences: Markdown prose with YAML blocks, validated on load.

Teams write what they want in their own words ("lower the learning rate only if val loss is
above 0.5 and accuracy has plateaued") next to the machine-readable part, in one
``preferences.md``::

    We care about eval loss more than train loss.

    ```yaml
    watch: [loss, eval_loss, accuracy]
    thresholds:
      gpu_idle_minutes: 15
      val_loss_threshold: 0.5          # a name of the team's own, used in a rule below
    rules:
      - when: loss_diverging
        only_if: ["eval_loss > val_loss_threshold", "accuracy plateaued"]
        do: propose_relaunch
        change: {learning_rate: "x0.5"}
      - when: gpu_idle
        do: stop
    notify: ["#ml-alerts"]
    quiet_hours: {start: "22:00", end: "07:00", timezone: "Europe/Paris"}
    ```

The prose goes to the agent verbatim (it is the team's intent); the YAML decides what fires.
Anything wrong is refused with the block, the key path and what is expected — a typo in a
threshold name must not silently turn a rule off.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import fields
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .health import CONDITIONS, Thresholds
from .series import JobSeries

Action = Literal["alert", "stop", "propose_relaunch"]

_FENCE = re.compile(r"^```[ \t]*(?:ya?ml)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_COMPARE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|>|<|==)\s*"
    r"(?P<rhs>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[A-Za-z_][A-Za-z0-9_]*)\s*$"
)
_PLATEAU = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s+(?:has\s+|is\s+)?plateau(?:ed|ing)?\s*$"
)
_CHANGE = re.compile(r"^\s*(?P<op>[x×*/+-])\s*(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$")
_KNOWN_THRESHOLDS = {f.name for f in fields(Thresholds)}
PLATEAU_POINTS = 5
PLATEAU_REL_CHANGE = 0.01


class PreferencesError(ValueError):
    """A preferences file that cannot be used, with every problem found."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: str
    do: Action
    only_if: list[str] = Field(default_factory=list)
    change: dict[str, float | str] = Field(default_factory=dict)
    note: str | None = None

    @field_validator("when")
    @classmethod
    def _known_condition(cls, value: str) -> str:
        if value not in CONDITIONS:
            raise ValueError(f"unknown condition {value!r}; use one of: {', '.join(CONDITIONS)}")
        return value

    @field_validator("only_if")
    @classmethod
    def _parsable(cls, value: list[str]) -> list[str]:
        for cond in value:
            if not (_COMPARE.match(cond) or _PLATEAU.match(cond)):
                raise ValueError(
                    f"cannot read condition {cond!r}; write 'metric > number', "
                    "'metric < threshold_name' or 'metric plateaued'"
                )
        return value

    @field_validator("change")
    @classmethod
    def _change_values(cls, value: dict[str, float | str]) -> dict[str, float | str]:
        for key, v in value.items():
            m = _CHANGE.match(v) if isinstance(v, str) else None
            if isinstance(v, str) and m and m.group("op") == "/" and float(m.group("num")) == 0:
                raise ValueError(f"{key}: {v!r} divides by zero")
            if isinstance(v, str) and not m:
                raise ValueError(
                    f"{key}: {v!r} is not a change; use a number (set it), or 'x0.5', '/2', "
                    "'+1', '-1' (relative to the current value)"
                )
        return value


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # spans midnight


class PreferenceSpec(BaseModel):
    """The YAML part, all blocks merged (later blocks win key by key)."""

    model_config = ConfigDict(extra="forbid")

    watch: list[str] = Field(default_factory=list)
    thresholds: dict[str, float] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None


class Preferences(BaseModel):
    """Validated preferences: the spec plus the team's prose for the agent."""

    spec: PreferenceSpec = Field(default_factory=PreferenceSpec)
    prose: str = ""
    source: str = "default"

    @property
    def thresholds(self) -> Thresholds:
        known = {k: v for k, v in self.spec.thresholds.items() if k in _KNOWN_THRESHOLDS}
        if "divergence_window" in known:
            known["divergence_window"] = int(known["divergence_window"])
        if "overfitting_evals" in known:
            known["overfitting_evals"] = int(known["overfitting_evals"])
        return Thresholds(**known)

    def rules_for(self, condition: str) -> list[Rule]:
        return [r for r in self.spec.rules if r.when == condition]

    def quiet_now(self, moment: datetime) -> bool:
        return bool(self.spec.quiet_hours and self.spec.quiet_hours.contains(moment))

    def describe(self) -> str:
        """What a person sees when they ask for ``preferences``: the rules in plain words."""
        t = self.thresholds
        lines = [f"*Preferences* (from {self.source})"]
        if self.spec.watch:
            lines.append("Watching: " + ", ".join(self.spec.watch))
        lines.append(
            f"GPU idle below {t.gpu_idle_pct:g}% for {t.gpu_idle_minutes:g} min · GPU memory "
            f"above {t.gpu_memory_pct:g}% · divergence: recent loss ≥ {t.divergence_ratio:g}× "
            f"best over {t.divergence_window} points · stalled after {t.stall_minutes:g} min"
        )
        custom = {k: v for k, v in self.spec.thresholds.items() if k not in _KNOWN_THRESHOLDS}
        if custom:
            lines.append("Team thresholds: " + ", ".join(f"{k} = {v:g}" for k, v in custom.items()))
        for r in self.spec.rules:
            cond = f" if {' and '.join(r.only_if)}" if r.only_if else ""
            change = (
                " with " + ", ".join(f"{k} {v}" for k, v in r.change.items()) if r.change else ""
            )
            lines.append(f"• on {r.when}{cond}: {r.do.replace('_', ' ')}{change}")
        if not self.spec.rules:
            lines.append("• no rules: warnings only")
        if self.spec.notify:
            lines.append("Tell: " + ", ".join(self.spec.notify))
        if self.spec.quiet_hours:
            q = self.spec.quiet_hours
            lines.append(f"Quiet hours: {q.start:%H:%M}–{q.end:%H:%M} {q.timezone}")
        return "\n".join(lines)


def parse_preferences(text: str, *, source: str = "preferences.md") -> Preferences:
    """Read a preferences Markdown file; raise :class:`PreferencesError` listing every problem."""
    blocks = list(_FENCE.finditer(text))
    problems: list[str] = []
    merged: dict[str, Any] = {}
    for n, match in enumerate(blocks, start=1):
        try:
            data = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{source}, YAML block {n}: not valid YAML ({_short(exc)})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{source}, YAML block {n}: expected a mapping of keys, got a list")
            continue
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    prose = _FENCE.sub("", text).strip()
    if problems:
        raise PreferencesError("\n".join(problems))
    try:
        spec = PreferenceSpec.model_validate(merged)
    except ValidationError as exc:
        raise PreferencesError(
            "\n".join(
                f"{source}: {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
                for err in exc.errors()
            )
        ) from None
    _check_threshold_names(spec, source)
    return Preferences(spec=spec, prose=prose, source=source)


def _check_threshold_names(spec: PreferenceSpec, source: str) -> None:
    """A threshold nobody uses is almost always a typo of a known one: refuse it."""
    used = set()
    for rule in spec.rules:
        for cond in rule.only_if:
            m = _COMPARE.match(cond)
            if m and not _is_number(m.group("rhs")):
                used.add(m.group("rhs"))
    problems = []
    for name in spec.thresholds:
        if name not in _KNOWN_THRESHOLDS and name not in used:
            problems.append(
                f"{source}: thresholds.{name}: not a known threshold and not used by any rule "
                f"(known: {', '.join(sorted(_KNOWN_THRESHOLDS))})"
            )
    for name in used - set(spec.thresholds):
        problems.append(f"{source}: rules: condition uses {name!r}, which is not in thresholds")
    if problems:
        raise PreferencesError("\n".join(problems))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def conditions_hold(rule: Rule, series: JobSeries, prefs: Preferences) -> tuple[bool, list[str]]:
    """Whether every ``only_if`` of ``rule`` holds now, with what was checked (for the log)."""
    seen: list[str] = []
    for cond in rule.only_if:
        ok, what = _evaluate(cond, series, prefs.spec.thresholds)
        seen.append(what)
        if not ok:
            return False, seen
    return True, seen


def _evaluate(cond: str, series: JobSeries, named: dict[str, float]) -> tuple[bool, str]:
    plateau = _PLATEAU.match(cond)
    if plateau:
        metric = plateau.group("metric")
        s = series.metrics.get(metric)
        pts = [y for _, y in (s.tail(PLATEAU_POINTS) if s else []) if math.isfinite(y)]
        if len(pts) < PLATEAU_POINTS:
            return False, f"{metric}: not enough points to call a plateau"
        spread = max(pts) - min(pts)
        scale = max(abs(statistics.fmean(pts)), 1e-12)
        flat = spread / scale <= PLATEAU_REL_CHANGE * PLATEAU_POINTS
        return flat, f"{metric} over last {PLATEAU_POINTS} points varies {spread / scale:.1%}"
    m = _COMPARE.match(cond)
    assert m is not None  # validated on load
    metric, op, rhs = m.group("metric"), m.group("op"), m.group("rhs")
    bound = float(rhs) if _is_number(rhs) else named[rhs]
    s = series.metrics.get(metric)
    value = s.last() if s else None
    if value is None or not math.isfinite(value):
        return False, f"{metric}: no value yet"
    ok = {
        ">": value > bound,
        ">=": value >= bound,
        "<": value < bound,
        "<=": value <= bound,
        "==": value == bound,
    }[op]
    return ok, f"{metric} = {value:.4g} {op} {bound:g}: {'yes' if ok else 'no'}"


def apply_change(current: dict[str, Any], change: dict[str, float | str]) -> dict[str, Any]:
    """The hyper-parameters after a rule's change (``x0.5`` halves, a number sets)."""
    out = dict(current)
    for key, spec in change.items():
        if not isinstance(spec, str):
            out[key] = spec
            continue
        m = _CHANGE.match(spec)
        assert m is not None  # validated on load
        base = out.get(key)
        if not isinstance(base, int | float):
            raise PreferencesError(
                f"cannot apply {key} {spec}: the job's current {key} is unknown; "
                "give an absolute value in the rule"
            )
        num = float(m.group("num"))
        op = m.group("op")
        new = {
            "x": base * num,
            "×": base * num,
            "*": base * num,
            "/": base / num,
            "+": base + num,
            "-": base - num,
        }[op]
        out[key] = int(new) if isinstance(base, int) and float(new).is_integer() else new
    return out
