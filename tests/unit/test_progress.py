"""The progress bar of long commands: its rate, its phases, how often it redraws."""

from __future__ import annotations

import io

from adapters.cli.progress import ProgressBar


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_shows_no_rate_before_time_has_passed() -> None:
    """The first report of a phase, even with items already done, shows no rate (there
    is no time to divide by), and neither do reports within the first half second."""
    clock = FakeClock()
    out = io.StringIO()
    bar = ProgressBar(out, enabled=True, width=10, clock=clock)
    bar("analysing", 50, 100)
    clock.now += 0.2
    bar("analysing", 60, 100)
    assert "/s" not in out.getvalue()
    assert "[#####.....] 50/100" in out.getvalue()


def test_progress_rate_counts_items_done_since_the_phase_began() -> None:
    """The rate is the items done since the phase's first report over the time since
    then."""
    clock = FakeClock()
    out = io.StringIO()
    bar = ProgressBar(out, enabled=True, width=10, clock=clock)
    bar("embedding", 40, 1000)
    clock.now += 2.0
    bar("embedding", 240, 1000)
    assert (
        out.getvalue().rsplit("\r", 1)[-1].startswith("embedding   [##........] 240/1000  100.0/s")
    )


def test_progress_starts_a_new_line_and_rate_for_each_phase() -> None:
    """A new phase ends the previous line and starts its own clock."""
    clock = FakeClock()
    out = io.StringIO()
    bar = ProgressBar(out, enabled=True, width=4, clock=clock)
    bar("reading", 0, 10)
    clock.now += 10
    bar("reading", 10, 10)
    bar("analysing", 0, 5)
    bar.close()
    lines = out.getvalue().split("\n")
    assert "10/10  1.0/s" in lines[0]
    assert lines[1].rsplit("\r", 1)[-1].startswith("analysing   [....] 0/5 ")
    assert "/s" not in lines[1]
    assert lines[2] == ""


def test_progress_redraws_at_most_ten_times_a_second_but_always_the_last_step() -> None:
    """Reports closer together than the redraw interval are skipped, except the one
    that completes the phase."""
    clock = FakeClock()
    out = io.StringIO()
    bar = ProgressBar(out, enabled=True, clock=clock)
    for done in range(1, 101):
        clock.now += 0.001
        bar("hashing", done, 100)
    draws = out.getvalue().count("\r")
    assert draws == 2  # the first report and the last
    assert "100/100" in out.getvalue()


def test_progress_is_silent_when_not_on_a_terminal() -> None:
    """Off a terminal (or disabled) the bar writes nothing."""
    out = io.StringIO()
    bar = ProgressBar(out)
    bar("indexing", 1, 2)
    bar.close()
    assert out.getvalue() == ""
