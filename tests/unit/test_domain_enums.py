"""Orderings and graphs carried by the domain enums: severities from info up to critical, and
the job-status lifecycle."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from domain.enums import JobStatus, Severity

MOST_SEVERE_FIRST = [
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
]
severities = st.sampled_from(list(Severity))


def test_severities_rank_from_critical_1_to_info_5() -> None:
    """rank is 1 for critical up to 5 for info, the order of the issues summary."""
    assert [s.rank for s in MOST_SEVERE_FIRST] == [1, 2, 3, 4, 5]


def test_sorting_severities_puts_the_most_severe_last() -> None:
    """Severities sort from least to most severe, so max() is the worst."""
    assert sorted(MOST_SEVERE_FIRST) == MOST_SEVERE_FIRST[::-1]
    assert max(Severity) is Severity.CRITICAL
    assert min(Severity) is Severity.INFO


@given(severities, severities)
def test_severity_comparisons_agree_with_rank(a: Severity, b: Severity) -> None:
    """a > b exactly when a is more severe (lower rank), and the other operators agree."""
    assert (a > b) is (a.rank < b.rank)
    assert (a < b) is (a.rank > b.rank)
    assert (a >= b) is (a.rank <= b.rank)
    assert (a <= b) is (a.rank >= b.rank)
    assert (a == b) is (a.rank == b.rank)


def test_severities_stay_usable_as_keys_and_equal_to_their_stored_string() -> None:
    """A severity hashes and compares equal like its stored string."""
    keyed: dict[str, int] = {Severity.HIGH: 1}
    assert keyed["high"] == 1
    assert Severity("critical") is Severity.CRITICAL


@pytest.mark.parametrize(
    ("status", "targets"),
    [
        (JobStatus.PENDING, {JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
        (JobStatus.RUNNING, {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}),
        (JobStatus.COMPLETED, set()),
        (JobStatus.FAILED, set()),
        (JobStatus.CANCELLED, set()),
    ],
)
def test_job_status_edges_and_terminal_states(status: JobStatus, targets: set[JobStatus]) -> None:
    """can_move_to allows exactly the lifecycle's edges; only edge-less statuses are
    terminal."""
    assert {t for t in JobStatus if status.can_move_to(t)} == targets
    assert status.is_terminal is (not targets)
