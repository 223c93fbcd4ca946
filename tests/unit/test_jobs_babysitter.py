"""The babysitter's pure parts: metric series, health checks, preferences, curve images."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime

import pytest

from agent_core.jobs import health
from agent_core.jobs.charts import Run, render_comparison, render_curves
from agent_core.jobs.health import HealthMonitor, Thresholds, check_all
from agent_core.jobs.preferences import (
    PreferencesError,
    apply_change,
    conditions_hold,
    parse_preferences,
)
from agent_core.jobs.series import GPU_MEM, GPU_UTIL, JobSeries, Series
from tests.fakes.training_curves import hardware_sample, run_log


def series_for(shape: str, steps: int = 100, gpu_minutes: float = 0) -> JobSeries:
    s = JobSeries()
    s.add_log_lines(run_log(shape, steps), at=0)
    for sec in range(0, int(gpu_minutes * 60) + 1, 30):
        s.add_hardware(hardware_sample(shape, sec), at=float(sec))
    return s


# ------------------------------------------------------------------ series


def test_series_by_step_from_trainer_logs():
    s = series_for("healthy")
    assert s.loss_key() == "loss" and s.eval_loss_key() == "eval_loss"
    assert s.metrics["loss"].xs[:3] == [5.0, 10.0, 15.0]
    assert len(s.metrics["eval_loss"]) == 10
    assert "step" not in s.metrics and "epoch" not in s.metrics


def test_series_stays_bounded_and_keeps_recent_resolution():
    s = Series(max_points=100)
    for i in range(10_000):
        s.add(float(i), float(i))
    assert len(s) <= 100
    assert s.points[-1] == (9999.0, 9999.0)
    assert [x for x, _ in s.points[-10:]] == [float(i) for i in range(9990, 10000)]
    assert s.points[0][0] == 0.0  # the start of the run is never forgotten


def test_series_round_trips_json_with_nan():
    s = series_for("nan", gpu_minutes=2)
    again = JobSeries.from_json(s.to_json())
    assert again.metrics.keys() == s.metrics.keys()
    assert math.isnan(again.metrics["loss"].last())
    assert again.hardware[GPU_UTIL].points == s.hardware[GPU_UTIL].points
    assert JobSeries.from_json({"v": 99}).is_empty()
    assert JobSeries.from_json(None).is_empty()


def test_hardware_from_fetch_job_metrics_shape():
    s = JobSeries()
    s.add_hardware(hardware_sample("healthy", 0), at=0.0)
    assert s.hardware[GPU_UTIL].last() == 87
    assert s.hardware[GPU_MEM].last() == pytest.approx(100 * 18_000_000_000 / 22_836_000_000)
    s.add_hardware({"gpus": "garbage", "cpu_usage_pct": "x"}, at=1.0)  # never crashes


# ------------------------------------------------------------------ health


@pytest.mark.parametrize(
    "shape,expected",
    [
        ("healthy", set()),
        ("nan", {health.NAN}),
        ("diverging", {health.DIVERGING}),
        ("overfitting", {health.OVERFITTING}),
    ],
)
def test_scripted_curves_raise_exactly_their_condition(shape, expected):
    found = check_all(series_for(shape, steps=150), Thresholds(), now=0, running=False)
    assert {f.condition for f in found} == expected


def test_divergence_warning_carries_the_numbers():
    (f,) = [f for f in check_all(series_for("diverging", 150), Thresholds(), now=0, running=False)]
    assert f.numbers["to"] > f.numbers["best"] * 1.5
    assert "rose from" in f.summary and "step 150" in f.summary


def test_gpu_idle_needs_the_whole_window():
    t = Thresholds(gpu_idle_minutes=10)
    short = series_for("idle_gpu", gpu_minutes=4)
    assert not [f for f in check_all(short, t, now=240, running=True) if f.condition == "gpu_idle"]
    long = series_for("idle_gpu", gpu_minutes=12)
    (idle,) = [f for f in check_all(long, t, now=720, running=True) if f.condition == "gpu_idle"]
    assert "2%" in idle.summary and idle.numbers["mean_pct"] == 2
    busy = series_for("healthy", gpu_minutes=12)
    assert not [f for f in check_all(busy, t, now=720, running=True) if f.condition == "gpu_idle"]


def test_gpu_memory_and_stall_and_throughput():
    s = JobSeries()
    sample = hardware_sample("healthy", 0)
    sample["gpus"]["882fa930"]["memory_used_bytes"] = 22_500_000_000
    s.add_hardware(sample, at=0.0)
    s.add_record({"loss": 1.0, "step": 1}, at=0.0)
    for i, sps in enumerate([100, 102, 99, 101, 100, 20, 18, 15]):
        s.add_record({"train_samples_per_second": sps, "step": i + 2}, at=10.0)
    found = {f.condition: f for f in check_all(s, Thresholds(), now=10 + 31 * 60, running=True)}
    assert set(found) == {health.GPU_MEMORY, health.STALLED, health.THROUGHPUT}
    assert "99%" in found[health.GPU_MEMORY].summary


def test_monitor_reports_once_per_episode():
    m = HealthMonitor()
    s = series_for("nan", 80)
    assert [f.condition for f in m.update(s, now=0, running=False)] == [health.NAN]
    assert m.update(s, now=1, running=False) == []  # same episode: silent
    s.add_record({"loss": 0.5, "step": 81})
    assert m.update(s, now=2, running=False) == []  # cleared
    s.add_record({"loss": float("nan"), "step": 82})
    assert [f.condition for f in m.update(s, now=3, running=False)] == [health.NAN]
    again = HealthMonitor.from_json(m.to_json())
    assert again.update(s, now=4, running=False) == []  # survives a restart


# ------------------------------------------------------------------ preferences

GOOD = """
# Our babysitting rules
We care about eval loss more than train loss. Never stop a run in its first hour.

```yaml
watch: [loss, eval_loss, accuracy]
thresholds:
  gpu_idle_minutes: 15
  val_loss_threshold: 0.5
rules:
  - when: loss_diverging
    only_if: ["eval_loss > val_loss_threshold"]
    do: propose_relaunch
    change: {learning_rate: "x0.5"}
  - when: gpu_idle
    do: stop
notify: ["#ml-alerts"]
quiet_hours: {start: "22:00", end: "07:00", timezone: "Europe/Paris"}
```
"""


def test_good_preferences_parse_and_describe():
    p = parse_preferences(GOOD)
    assert p.thresholds.gpu_idle_minutes == 15
    assert p.prose.startswith("# Our babysitting rules") and "```" not in p.prose
    assert [r.do for r in p.rules_for(health.DIVERGING)] == ["propose_relaunch"]
    text = p.describe()
    assert "on loss_diverging if eval_loss > val_loss_threshold" in text
    assert "val_loss_threshold = 0.5" in text and "#ml-alerts" in text
    assert p.quiet_now(datetime(2026, 1, 1, 23, 0, tzinfo=UTC))  # 00:00 in Paris
    assert not p.quiet_now(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    "yaml_text,message",
    [
        ("rules:\n  - when: loss_exploding\n    do: alert", "unknown condition 'loss_exploding'"),
        ("rules:\n  - when: gpu_idle\n    do: delete", "rules.0.do"),
        ("thresholds:\n  gpu_idel_minutes: 5", "thresholds.gpu_idel_minutes: not a known"),
        ("rules:\n  - when: gpu_idle\n    do: alert\n    only_if: ['loss is big']", "cannot read"),
        ("rules:\n  - when: gpu_idle\n    do: alert\n    only_if: ['loss > limit']", "'limit'"),
        ("rules:\n  - when: gpu_idle\n    do: stop\n    change: {lr: 'half'}", "not a change"),
        ("quiet_hours: {start: '22:00', end: '07:00', timezone: 'Mars/Base'}", "unknown time zone"),
        ("colour: blue", "colour: Extra inputs are not permitted"),
        ("rules: [", "not valid YAML"),
        ("- just\n- a list", "expected a mapping"),
    ],
)
def test_bad_preferences_are_refused_with_the_key_path(yaml_text, message):
    with pytest.raises(PreferencesError) as err:
        parse_preferences(f"prose\n```yaml\n{yaml_text}\n```\n", source="preferences.md")
    assert message in str(err.value)
    assert "preferences.md" in str(err.value)


def test_conditions_and_changes():
    p = parse_preferences(GOOD)
    (rule,) = p.rules_for(health.DIVERGING)
    s = JobSeries()
    s.add_record({"eval_loss": 0.7, "step": 1})
    ok, seen = conditions_hold(rule, s, p)
    assert ok and seen == ["eval_loss = 0.7 > 0.5: yes"]
    s.add_record({"eval_loss": 0.4, "step": 2})
    assert conditions_hold(rule, s, p)[0] is False
    assert apply_change({"learning_rate": 2e-5, "epochs": 3}, rule.change) == {
        "learning_rate": 1e-5,
        "epochs": 3,
    }
    with pytest.raises(PreferencesError, match="current learning_rate is unknown"):
        apply_change({}, rule.change)


def test_plateau_condition():
    p = parse_preferences(
        "```yaml\nrules:\n  - when: loss_diverging\n    do: alert\n"
        "    only_if: ['accuracy plateaued']\n```"
    )
    (rule,) = p.spec.rules
    s = JobSeries()
    for i, acc in enumerate([0.5, 0.6, 0.7, 0.8, 0.81]):
        s.add_record({"accuracy": acc, "step": i})
    assert conditions_hold(rule, s, p)[0] is False
    for i, acc in enumerate([0.810, 0.811, 0.810, 0.812, 0.811]):
        s.add_record({"accuracy": acc, "step": 10 + i})
    assert conditions_hold(rule, s, p)[0] is True


# ------------------------------------------------------------------ charts


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_curve_image_is_a_real_portrait_png():
    png = render_curves(series_for("overfitting", 150, gpu_minutes=3), "run abc")
    width, height = png_size(png)
    assert width == 1050 and height > width  # 7 in × 150 dpi, portrait for phones
    assert len(png) > 20_000  # curves drawn, not an empty canvas


def test_empty_run_still_renders():
    width, _ = png_size(render_curves(JobSeries(), "nothing yet"))
    assert width == 1050


def test_comparison_image():
    runs = [
        Run("lr 5e-5", series_for("diverging", 150), {"learning_rate": 5e-5, "epochs": 3}),
        Run("lr 2.5e-5", series_for("healthy", 150), {"learning_rate": 2.5e-5, "epochs": 3}),
    ]
    width, height = png_size(render_comparison(runs))
    assert width == 1050 and height > 600
