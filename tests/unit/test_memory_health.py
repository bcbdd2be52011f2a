"""MemoryHealthCheck: healthy with the probe's details, unhealthy when the probe fails."""

from __future__ import annotations

from typing import Any, cast

import pytest

from adapters.memory.health import MemoryHealthCheck
from ports.health import HealthStatus


async def test_without_a_probe_the_component_is_healthy() -> None:
    """A check with no probe reports HEALTHY under its name, with no details."""
    report = await MemoryHealthCheck("cache").check()

    assert (report.component, report.status, dict(report.details)) == (
        "cache",
        HealthStatus.HEALTHY,
        {},
    )
    assert report.error is None
    assert report.latency_ms >= 0


async def test_probe_results_become_the_details() -> None:
    """What the probe returns is reported as the details, read afresh on every check."""
    entries = {"entries": 1}
    check = MemoryHealthCheck("vectors", probe=lambda: entries)

    first = await check.check()
    entries["entries"] = 2
    second = await check.check()

    assert dict(first.details) == {"entries": 1}
    assert dict(second.details) == {"entries": 2}


async def test_failing_probe_makes_the_component_unhealthy() -> None:
    """If the probe raises, the check reports UNHEALTHY with the error instead of raising."""

    def probe() -> dict[str, int]:
        raise RuntimeError("store is closed")

    report = await MemoryHealthCheck("vectors", probe=probe).check()

    assert report.status is HealthStatus.UNHEALTHY
    assert report.error == "RuntimeError: store is closed"


async def test_probe_returning_a_non_mapping_is_unhealthy() -> None:
    """A probe that answers something other than a mapping is reported as a failure."""
    report = await MemoryHealthCheck(probe=cast(Any, lambda: [("entries", 1)])).check()

    assert report.status is HealthStatus.UNHEALTHY
    assert "not a mapping" in (report.error or "")


def test_name_is_exposed_and_must_not_be_blank() -> None:
    """The check is named by its component; a blank name is a configuration error."""
    assert MemoryHealthCheck().name == "memory"
    with pytest.raises(ValueError, match="name"):
        MemoryHealthCheck(" ")
