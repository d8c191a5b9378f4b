"""The progress bar's arithmetic on a fake clock: the total is known or estimated from the
start, settles as tasks' candidates become known, the ETA follows the measured rate, and the
last frame agrees with the run's summary."""

from __future__ import annotations

import pytest

from perfkit.cli.estimate import RunEstimate, format_eta


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_total_is_estimated_from_the_start_and_exact_once_every_task_started():
    clock = FakeClock()
    est = RunEstimate([4, 4, 2], clock)  # three tasks: 4, 4 and 2 samples
    assert est.total == 0 and not est.exact and est.eta_s() is None
    est.task_started(0, n_candidates=10, n_units=40)
    # the other tasks count as samples × 10 candidates: 40 + 40 + 20
    assert est.total == 100 and not est.exact and est.tasks == 3
    clock.now += 4.0
    est.outcomes(40)
    assert est.eta_s() == pytest.approx(6.0)  # 60 units left at 10 units/s
    est.task_started(1, n_candidates=20, n_units=80)  # mean candidates now 15: task 3 ≈ 30
    assert est.total == 40 + 80 + 30 and est.tasks_done == 1
    clock.now += 8.0
    est.outcomes(80)
    assert est.eta_s() == pytest.approx(30 * 12.0 / 120)
    est.task_started(2, n_candidates=5, n_units=10)
    assert est.exact and est.total == 130
    clock.now += 1.0
    est.outcomes(10)
    assert est.eta_s() == 0.0 and est.done == est.total


def test_the_last_frame_is_the_summary():
    est = RunEstimate([3, 3], FakeClock())
    est.task_started(0, 8, 24)
    est.outcomes(20)  # the bar lagged behind: 20 shown
    est.finished(units=48)
    assert (est.done, est.total, est.tasks_done) == (48, 48, 2)


@pytest.mark.parametrize("seconds, text", [(None, "ETA –"), (0.4, "ETA 0:00"), (65, "ETA 1:05"),
                                           (3723, "ETA 1:02:03")])
def test_eta_reads_as_a_clock(seconds, text):
    assert format_eta(seconds) == text


def test_the_units_bar_on_a_fake_clock():
    """The bar a person watches: a total from the start, the task count, an ETA, and a last
    frame equal to the summary (not the stale 34003/34429 of a bar that lagged)."""
    from rich.console import Console

    from builders import make_task

    from perfkit.cli import progress as p
    from perfkit.store import RunSummary

    clock = FakeClock()
    display = p.Progress(*p.progress_display().columns, console=Console(file=open("/dev/null", "w")),
                         get_time=clock)
    bar = p.UnitsBar(display, "units", clock)
    tasks = [make_task("a", 3, 1), make_task("b", 3, 1), make_task("c", 1, 1)]
    bar.tasks_planned(tasks)
    shown = display.tasks[0]
    assert shown.fields["units"] == "0/~0 units" and shown.description.startswith("task 1/3")
    bar.task_started(tasks[0], 5)
    bar.add_units(20)  # 4 samples × 5 candidates; b ≈ 20, c ≈ 10
    assert shown.total == 50 and shown.fields["units"] == "0/~50 units"

    class Done:  # an outcome, as the bar sees it
        status = "timeout"

    clock.now += 2.0
    for _ in range(10):
        bar.outcome(Done())
    clock.now += 0.2  # past the redraw interval
    bar.outcome(Done())
    assert shown.completed == 11 and shown.fields["bad"] == "timeout=11"
    assert shown.fields["eta"] == format_eta((50 - 11) * 2.2 / 11)
    bar.task_started(tasks[1], 5)
    bar.add_units(20)
    bar.task_started(tasks[2], 5)
    bar.add_units(10)
    clock.now += 1.0
    bar.outcome(Done())
    assert shown.fields["units"] == "12/50 units" and shown.description.startswith("task 3/3")
    bar.finished(RunSummary(state="complete", units=50, status_counts={"ok": 38, "timeout": 12}))
    assert (shown.completed, shown.total) == (50, 50) and shown.fields["units"] == "50/50 units"
    assert shown.fields["bad"] == "timeout=12" and shown.fields["eta"] == ""
