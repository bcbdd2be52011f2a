"""PostgreSQL repositories of measures, quality gates and new-code periods."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from psycopg.types.json import Jsonb

from adapters.postgres._sql import (
    Repo,
    columns,
    entity_params,
    insert_sql,
    plain,
    to_entity,
    update_sql,
)
from adapters.postgres.organizations import versioned_update
from adapters.serialization import unstructure
from domain.ids import GateId, JobId, OrganizationId, ProjectId
from domain.quality import GateEvaluation, MeasurePoint, NewCodePeriod, QualityGate
from ports.errors import NotFoundError, ValidationError

__all__ = [
    "PostgresMeasureRepository",
    "PostgresNewCodeRepository",
    "PostgresQualityGateRepository",
]

# ---------------------------------------------------------------------------- measures

INSERT_MEASURES = (
    "INSERT INTO analysis_measures (job_id, project_id, branch, measures, at)"
    " VALUES (%(job_id)s, %(project_id)s, %(branch)s, %(measures)s, %(at)s)"
)
UPSERT_LIVE = (
    "INSERT INTO live_measures (project_id, branch, job_id, measures, updated_at)"
    " VALUES (%(project_id)s, %(branch)s, %(job_id)s, %(measures)s, %(at)s)"
    " ON CONFLICT (project_id, branch) DO UPDATE SET job_id = EXCLUDED.job_id,"
    " measures = EXCLUDED.measures, updated_at = EXCLUDED.updated_at"
)
SELECT_LIVE = (
    "SELECT measures FROM live_measures WHERE project_id = %(project_id)s AND branch = %(branch)s"
)
MEASURE_HISTORY = (
    "SELECT job_id, at, (measures ->> %(metric)s)::float8 AS value FROM analysis_measures"
    " WHERE project_id = %(project_id)s AND branch = %(branch)s AND measures ? %(metric)s"
    " ORDER BY at, job_id"
)

GATE_RESULT_COLUMNS = (
    "job_id", "project_id", "branch", "gate_name", "status", "conditions", "evaluated_at",
)  # fmt: skip
INSERT_GATE_RESULT = (
    f"INSERT INTO analysis_gates ({columns(GATE_RESULT_COLUMNS)})"
    f" VALUES ({', '.join(f'%({c})s' for c in GATE_RESULT_COLUMNS)})"
)
SELECT_GATE_RESULT = (
    f"SELECT {columns(GATE_RESULT_COLUMNS)} FROM analysis_gates WHERE job_id = %(job_id)s"
)
# the branch's latest analysis (by the jobs' creation) that has a gate
LATEST_GATE_RESULT = (
    f"SELECT {columns(GATE_RESULT_COLUMNS, 'g')} FROM analysis_gates g"
    " JOIN analysis_jobs j ON j.id = g.job_id"
    " WHERE g.project_id = %(project_id)s AND g.branch = %(branch)s"
    " ORDER BY j.created_at DESC, j.id DESC LIMIT 1"
)


def _measures(measures: dict[str, float]) -> dict[str, float]:
    """The measures as stored: names of text, values finite numbers (as floats)."""
    out: dict[str, float] = {}
    for name, value in measures.items():
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ValidationError(
                "measures", name, "names must be text of 1 to 100 characters", entity="Measures"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValidationError(
                f"measures[{name!r}]", value, "must be a finite number", entity="Measures"
            )
        out[name] = float(value)
    return out


def _evaluation_params(evaluation: GateEvaluation) -> dict[str, Any]:
    """The evaluation as a row: each condition flattened with its value and outcome."""
    params = entity_params(evaluation)
    params["conditions"] = Jsonb(
        [
            {**unstructure(o.condition), "value": o.value, "failed": o.failed}
            for o in evaluation.conditions
        ]
    )
    return params


def _evaluation(row: dict[str, Any]) -> GateEvaluation:
    data = dict(row)
    data["conditions"] = [
        {
            "condition": {k: c[k] for k in ("metric", "operator", "threshold", "on_new_code")},
            "value": c["value"],
            "failed": c["failed"],
        }
        for c in row["conditions"]
    ]
    return to_entity(data, GateEvaluation)


class PostgresMeasureRepository(Repo):
    async def record(
        self,
        job_id: JobId,
        project_id: ProjectId,
        branch: str,
        measures: dict[str, float],
        *,
        at: dt.datetime,
    ) -> int:
        values = _measures(measures)
        params = {
            "job_id": job_id,
            "project_id": project_id,
            "branch": branch,
            "measures": Jsonb(values),
            "at": at,
        }
        await self._rowcount(INSERT_MEASURES, params)
        await self._rowcount(UPSERT_LIVE, params)
        return len(values)

    async def live(self, project_id: ProjectId, branch: str) -> dict[str, float]:
        row = await self._one(SELECT_LIVE, {"project_id": project_id, "branch": branch})
        if row is None:
            return {}
        return {name: float(value) for name, value in row["measures"].items()}

    async def history(self, project_id: ProjectId, branch: str, metric: str) -> list[MeasurePoint]:
        rows = await self._all(
            MEASURE_HISTORY, {"project_id": project_id, "branch": branch, "metric": metric}
        )
        return [MeasurePoint(job_id=r["job_id"], at=r["at"], value=r["value"]) for r in rows]

    async def record_gate(self, evaluation: GateEvaluation) -> None:
        await self._rowcount(INSERT_GATE_RESULT, _evaluation_params(evaluation))

    async def gate(self, job_id: JobId) -> GateEvaluation | None:
        row = await self._one(SELECT_GATE_RESULT, {"job_id": job_id})
        return _evaluation(row) if row else None

    async def latest_gate(self, project_id: ProjectId, branch: str) -> GateEvaluation | None:
        row = await self._one(LATEST_GATE_RESULT, {"project_id": project_id, "branch": branch})
        return _evaluation(row) if row else None


# ---------------------------------------------------------------------------- gates

GATE_COLUMNS = (
    "id",
    "organization_id",
    "name",
    "conditions",
    "is_default",
    "created_at",
    "updated_at",
)
GATE_JSON = ("conditions",)
INSERT_GATE = insert_sql("quality_gates", GATE_COLUMNS)
SELECT_GATE = f"SELECT {columns(GATE_COLUMNS)} FROM quality_gates WHERE id = %(id)s"
SELECT_GATE_BY_NAME = (
    f"SELECT {columns(GATE_COLUMNS)} FROM quality_gates"
    " WHERE organization_id = %(organization_id)s AND name = %(name)s"
)
# a gate stays in its organization
UPDATE_GATE = update_sql(
    "quality_gates",
    GATE_COLUMNS,
    where="id = %(id)s AND updated_at = %(updated_at)s",
    skip=("organization_id",),
)
GATE_EXISTS = "SELECT 1 AS found FROM quality_gates WHERE id = %(id)s"
DELETE_GATE = "DELETE FROM quality_gates WHERE id = %(id)s"
LIST_GATES = (
    f"SELECT {columns(GATE_COLUMNS)} FROM quality_gates"
    ' WHERE organization_id = %(organization_id)s ORDER BY name COLLATE "C", id'
)
PROJECT_EXISTS = "SELECT 1 AS found FROM projects WHERE id = %(project_id)s"
# the gate of another organization than the project's is not there for it (the schema's
# foreign key is on the gate and the project's organization)
ASSIGN_GATE = (
    "INSERT INTO project_quality_gates (project_id, gate_id) VALUES (%(project_id)s, %(gate_id)s)"
    " ON CONFLICT (project_id) DO UPDATE SET gate_id = EXCLUDED.gate_id"
)
UNASSIGN_GATE = "DELETE FROM project_quality_gates WHERE project_id = %(project_id)s"
# the project's gate, else its organization's default
ASSIGNED_GATE = f"""
SELECT {columns(GATE_COLUMNS, "g")} FROM (
    SELECT 0 AS choice, a.gate_id FROM project_quality_gates a WHERE a.project_id = %(project_id)s
    UNION ALL
    SELECT 1, d.id FROM projects p
    JOIN quality_gates d ON d.organization_id = p.organization_id AND d.is_default
    WHERE p.id = %(project_id)s
) chosen JOIN quality_gates g ON g.id = chosen.gate_id
ORDER BY chosen.choice LIMIT 1
"""


def _gate(row: dict[str, Any]) -> QualityGate:
    return to_entity(row, QualityGate)


class PostgresQualityGateRepository(Repo):
    async def create(self, gate: QualityGate) -> QualityGate:
        row = await self._one(INSERT_GATE, entity_params(gate, json=GATE_JSON))
        assert row is not None
        return _gate(row)

    async def find_by_id(self, id: GateId) -> QualityGate | None:
        row = await self._read_one(SELECT_GATE, {"id": id})
        return _gate(row) if row else None

    async def find_by_name(self, organization_id: OrganizationId, name: str) -> QualityGate | None:
        row = await self._read_one(
            SELECT_GATE_BY_NAME, {"organization_id": organization_id, "name": name}
        )
        return _gate(row) if row else None

    async def update(self, gate: QualityGate) -> QualityGate:
        result: QualityGate = await versioned_update(
            self, UPDATE_GATE, entity_params(gate, json=GATE_JSON), GATE_EXISTS,
            "quality gate", QualityGate,
        )  # fmt: skip
        return result

    async def delete(self, id: GateId) -> None:
        if not await self._rowcount(DELETE_GATE, {"id": id}):
            raise NotFoundError("quality gate", id)

    async def list(self, organization_id: OrganizationId) -> list[QualityGate]:
        rows = await self._all(LIST_GATES, {"organization_id": organization_id})
        return [_gate(r) for r in rows]

    async def assign(self, project_id: ProjectId, gate_id: GateId | None) -> None:
        params = {"project_id": project_id, "gate_id": gate_id}
        if await self._one(PROJECT_EXISTS, params) is None:
            raise NotFoundError("project", project_id)
        if gate_id is None:
            await self._rowcount(UNASSIGN_GATE, params)
            return
        if await self._one(GATE_EXISTS, {"id": gate_id}) is None:
            raise NotFoundError("quality gate", gate_id)
        await self._rowcount(ASSIGN_GATE, params)

    async def assigned(self, project_id: ProjectId) -> QualityGate | None:
        row = await self._one(ASSIGNED_GATE, {"project_id": project_id})
        return _gate(row) if row else None


# ---------------------------------------------------------------------------- new code

PERIOD_COLUMNS = ("kind", "days", "reference_branch", "job_id")
SET_PERIOD = (
    "INSERT INTO new_code_periods (project_id, branch, kind, days, reference_branch, job_id)"
    " VALUES (%(project_id)s, %(branch)s, %(kind)s, %(days)s, %(reference_branch)s, %(job_id)s)"
    " ON CONFLICT ON CONSTRAINT uq_new_code_periods_branch DO UPDATE SET"
    " kind = EXCLUDED.kind, days = EXCLUDED.days,"
    " reference_branch = EXCLUDED.reference_branch, job_id = EXCLUDED.job_id"
)
# branch NULL is the project's period
SELECT_PERIOD = (
    f"SELECT {columns(PERIOD_COLUMNS)} FROM new_code_periods"
    " WHERE project_id = %(project_id)s AND branch IS NOT DISTINCT FROM %(branch)s::text"
)
CLEAR_PERIOD = (
    "DELETE FROM new_code_periods"
    " WHERE project_id = %(project_id)s AND branch IS NOT DISTINCT FROM %(branch)s::text"
)


class PostgresNewCodeRepository(Repo):
    async def set(self, project_id: ProjectId, branch: str | None, period: NewCodePeriod) -> None:
        params = {
            "project_id": project_id,
            "branch": branch,
            **{c: plain(getattr(period, c)) for c in PERIOD_COLUMNS},
        }
        await self._rowcount(SET_PERIOD, params)

    async def get(self, project_id: ProjectId, branch: str | None) -> NewCodePeriod | None:
        row = await self._read_one(SELECT_PERIOD, {"project_id": project_id, "branch": branch})
        return to_entity(row, NewCodePeriod) if row else None

    async def clear(self, project_id: ProjectId, branch: str | None) -> bool:
        params = {"project_id": project_id, "branch": branch}
        return await self._rowcount(CLEAR_PERIOD, params) > 0
