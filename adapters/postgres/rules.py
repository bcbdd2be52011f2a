"""PostgreSQL repositories of the rule catalogue and per-project rule configuration."""

from __future__ import annotations

from collections.abc import Sequence

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
from domain.enums import Category, ProgrammingLanguage
from domain.ids import ProjectId, RuleId
from domain.rules import ProjectRuleConfig, Rule
from ports.errors import NotFoundError

__all__ = ["PostgresRuleConfigRepository", "PostgresRuleRepository"]

RULE_COLUMNS = (
    "id", "name", "description", "category", "severity", "languages", "rule_type",
    "implementation", "examples", "documentation_url", "is_enabled", "is_builtin",
    "created_at", "updated_at", "version",
)  # fmt: skip
RULE_JSON = ("implementation", "examples")
INSERT_RULE = insert_sql("rules", RULE_COLUMNS)
SELECT_RULE = f"SELECT {columns(RULE_COLUMNS)} FROM rules WHERE id = %(id)s"
UPDATE_RULE = update_sql("rules", RULE_COLUMNS, where="id = %(id)s AND updated_at = %(updated_at)s")
RULE_EXISTS = "SELECT 1 AS found FROM rules WHERE id = %(id)s"
DELETE_RULE = "DELETE FROM rules WHERE id = %(id)s"
UPSERT_RULE = (
    f"INSERT INTO rules ({columns(RULE_COLUMNS)})"
    f" VALUES ({', '.join(f'%({c})s' for c in RULE_COLUMNS)})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(
        f"{c} = EXCLUDED.{c}" for c in RULE_COLUMNS if c not in ("id", "created_at", "updated_at")
    )
)
LIST_RULES = (
    f"SELECT {columns(RULE_COLUMNS)} FROM rules"
    " WHERE (%(category)s::text IS NULL OR category = %(category)s)"
    " AND (%(language)s::text IS NULL OR %(language)s = ANY(languages))"
    " AND (%(enabled)s::boolean IS NULL OR is_enabled = %(enabled)s)"
    ' ORDER BY id COLLATE "C"'
)

CONFIG_COLUMNS = (
    "id", "project_id", "rule_id", "is_enabled", "severity_override", "config_override",
    "created_at", "updated_at",
)  # fmt: skip
CONFIG_JSON = ("config_override",)
SELECT_CONFIG = (
    f"SELECT {columns(CONFIG_COLUMNS)} FROM project_rule_configs"
    " WHERE project_id = %(project_id)s AND rule_id = %(rule_id)s"
)
LIST_CONFIGS = (
    f"SELECT {columns(CONFIG_COLUMNS)} FROM project_rule_configs"
    ' WHERE project_id = %(project_id)s ORDER BY rule_id COLLATE "C"'
)
UPSERT_CONFIG = (
    f"INSERT INTO project_rule_configs ({columns(CONFIG_COLUMNS)})"
    f" VALUES ({', '.join(f'%({c})s' for c in CONFIG_COLUMNS)})"
    " ON CONFLICT (project_id, rule_id) DO UPDATE SET is_enabled = EXCLUDED.is_enabled,"
    " severity_override = EXCLUDED.severity_override,"
    " config_override = EXCLUDED.config_override"
    f" RETURNING {columns(CONFIG_COLUMNS)}"
)
DELETE_CONFIG = (
    "DELETE FROM project_rule_configs WHERE project_id = %(project_id)s AND rule_id = %(rule_id)s"
)


def _rule(row: dict[str, object]) -> Rule:
    return to_entity(row, Rule)


class PostgresRuleRepository(Repo):
    async def create(self, rule: Rule) -> Rule:
        row = await self._one(INSERT_RULE, entity_params(rule, json=RULE_JSON))
        assert row is not None
        return _rule(row)

    async def find_by_id(self, id: RuleId) -> Rule | None:
        row = await self._read_one(SELECT_RULE, {"id": id})
        return _rule(row) if row else None

    async def update(self, rule: Rule) -> Rule:
        result: Rule = await versioned_update(
            self, UPDATE_RULE, entity_params(rule, json=RULE_JSON), RULE_EXISTS, "rule", Rule
        )
        return result

    async def delete(self, id: RuleId) -> None:
        if not await self._rowcount(DELETE_RULE, {"id": id}):
            raise NotFoundError("rule", id)

    async def upsert_many(self, rules: Sequence[Rule]) -> int:
        latest = {rule.id: rule for rule in rules}
        await self._many(UPSERT_RULE, [entity_params(r, json=RULE_JSON) for r in latest.values()])
        return len(latest)

    async def list(
        self,
        *,
        category: Category | None = None,
        language: ProgrammingLanguage | None = None,
        enabled: bool | None = None,
    ) -> list[Rule]:
        rows = await self._all(
            LIST_RULES,
            {"category": plain(category), "language": plain(language), "enabled": enabled},
        )
        return [_rule(r) for r in rows]


class PostgresRuleConfigRepository(Repo):
    async def find(self, project_id: ProjectId, rule_id: RuleId) -> ProjectRuleConfig | None:
        row = await self._one(SELECT_CONFIG, {"project_id": project_id, "rule_id": rule_id})
        return to_entity(row, ProjectRuleConfig) if row else None

    async def list_by_project(self, project_id: ProjectId) -> list[ProjectRuleConfig]:
        rows = await self._all(LIST_CONFIGS, {"project_id": project_id})
        return [to_entity(r, ProjectRuleConfig) for r in rows]

    async def upsert(self, config: ProjectRuleConfig) -> ProjectRuleConfig:
        row = await self._one(UPSERT_CONFIG, entity_params(config, json=CONFIG_JSON))
        assert row is not None
        return to_entity(row, ProjectRuleConfig)

    async def delete(self, project_id: ProjectId, rule_id: RuleId) -> bool:
        params = {"project_id": project_id, "rule_id": rule_id}
        return await self._rowcount(DELETE_CONFIG, params) > 0
