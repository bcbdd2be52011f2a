"""The shared converter: every domain class round-trips through plain data and JSON, the
data is plain JSON, defaults fill missing keys, and bad data fails with a named path."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import types
import typing
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.serialization import (
    dumps,
    event_from_dict,
    event_to_dict,
    loads,
    structure,
    unstructure,
)
from domain import (
    analysis,
    embeddings,
    events,
    files,
    organizations,
    projects,
    reports,
    rules,
    values,
)
from domain.analysis import AnalysisJob, CodeMetric
from domain.enums import JobStatus, MetricType, ProgrammingLanguage, ProjectStatus, Severity
from domain.errors import ValidationError
from domain.events import EVENT_TYPES, DomainEvent, ProjectUpdated
from domain.ids import FileId, JobId, OrganizationId, ProjectId, new_id
from domain.projects import Project
from domain.rules import ProjectRuleConfig, Rule
from domain.values import (
    AnalysisConfig,
    CommitInfo,
    FileMetadata,
    LanguageStats,
    NotificationPreferences,
    OrganizationSettings,
    ProjectMetadata,
    ProjectSettings,
)
from ports.outbox import OutboxMessage

# --------------------------------------------------------------------------- strategies

PST = dt.timezone(dt.timedelta(hours=-8))
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(str.strip)
INTS = st.integers(1, 10_000)
FLOATS = st.integers(0, 1_000_000).map(lambda n: n / 10_000)  # 0 to 100, 4 decimals
SIGNED_FLOATS = st.integers(-(10**9), 10**9).map(lambda n: n / 10_000)
ANY_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
DATETIMES = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(dt.timedelta(hours=-8)),
        ]
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | ANY_FLOATS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
SLUGS = st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,3}", fullmatch=True)
RULE_IDS = st.from_regex(r"[a-z0-9]{1,10}([-_./][a-z0-9]{1,10}){0,3}", fullmatch=True)


def hex_digits(length: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=length // 2, max_size=length // 2).map(bytes.hex)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Fields whose values obey a format or range: by (class, field), then by field name alone.
FIELD_STRATEGIES: dict[Any, st.SearchStrategy[Any]] = {
    (Rule, "id"): RULE_IDS,
    (Rule, "languages"): st.lists(
        st.sampled_from(ProgrammingLanguage), min_size=1, max_size=4, unique=True
    ).map(tuple),
    (ProjectRuleConfig, "rule_id"): RULE_IDS,
    (CodeMetric, "value"): SIGNED_FLOATS,
    (CodeMetric, "threshold_min"): optional(SIGNED_FLOATS),
    (CodeMetric, "threshold_max"): optional(SIGNED_FLOATS),
    "slug": SLUGS,
    "email": st.from_regex(r"[a-z0-9._%+-]{1,20}@[a-z0-9]{1,10}\.[a-z]{2,6}", fullmatch=True),
    "username": st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    "job_type": st.from_regex(r"[a-z][a-z_-]{0,19}", fullmatch=True),
    "hash": hex_digits(40),
    "commit_hash": hex_digits(40),
    "current_commit": optional(hex_digits(40)),
    "file_hash": hex_digits(64),
    "content_hash": optional(hex_digits(64)),
    "code_hash": hex_digits(64),
    "version": st.tuples(INTS, INTS, INTS).map(lambda v: "{}.{}.{}".format(*v)),
    "digest": st.sampled_from(["none", "daily", "weekly"]),
    "priority": st.integers(1, 10),
    "progress": st.integers(0, 100),
    "session_timeout_minutes": st.integers(5, 43_200),
    "size_bytes": st.integers(0, 2**63 - 1),
    "confidence": st.integers(0, 100).map(lambda n: n / 100),
    "vector": st.lists(ANY_FLOATS, min_size=1, max_size=8).map(tuple),
}


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    """Valid values of an annotated type, recursing into containers and attrs classes."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([st.none() if a is type(None) else for_type(a) for a in args])
    if hasattr(tp, "__supertype__"):  # NewType
        return for_type(tp.__supertype__)
    if origin is tuple:
        return st.lists(for_type(args[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(for_type(args[0]), for_type(args[1]), max_size=3)
    simple = {
        uuid.UUID: st.uuids(),
        str: TEXT,
        int: INTS,
        float: FLOATS,
        bool: st.booleans(),
        dt.datetime: DATETIMES,
        Any: JSON,
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(tp)
    if attrs.has(tp):
        return instances(tp)
    raise TypeError(f"no strategy for {tp!r}")


def field_values(cls: type[Any], field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    for key in ((cls, field.name), field.name):
        if key in FIELD_STRATEGIES:
            return FIELD_STRATEGIES[key]
    return for_type(field.type)


def instances(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Valid instances of ``cls`` with every field drawn (cross-field rules by filtering)."""
    kwargs = {f.name: field_values(cls, f) for f in attrs.fields(attrs.resolve_types(cls))}

    def build(drawn: dict[str, Any]) -> Any:
        try:
            return cls(**drawn)
        except ValidationError:
            return None

    return st.fixed_dictionaries(kwargs).map(build).filter(lambda obj: obj is not None)


DOMAIN_MODULES = (
    analysis,
    embeddings,
    events,
    files,
    organizations,
    projects,
    reports,
    rules,
    values,
)
DOMAIN_CLASSES = sorted(
    {
        obj
        for module in DOMAIN_MODULES
        for obj in (getattr(module, name) for name in module.__all__)
        if attrs.has(obj) and obj is not DomainEvent
    },
    key=lambda cls: cls.__name__,
)

ROUND_TRIP = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


def fields_of(obj: Any) -> Any:
    """Every field, recursively, each leaf with its type (entities compare by id alone,
    and a str-valued enum member equals its plain string)."""
    return typed(attrs.asdict(obj, recurse=True))


def typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {typed(k): typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    return (type(value), value)


# --------------------------------------------------------------------------- round trips


def test_domain_classes_are_all_covered() -> None:
    """The round-trip suites cover every attrs class the domain exports, events included."""
    names = {cls.__name__ for cls in DOMAIN_CLASSES}
    assert set(EVENT_TYPES) <= names
    assert {"Project", "FileMetadata", "CodeMetric", "IssuesSummary", "EffectiveRule"} <= names


@pytest.mark.parametrize("cls", DOMAIN_CLASSES, ids=lambda cls: cls.__name__)
@ROUND_TRIP
@given(data=st.data())
def test_every_field_survives_plain_data_and_json(cls: type[object], data: st.DataObject) -> None:
    """Any valid instance comes back with every field from its unstructured form and from
    its JSON bytes, which encode exactly that unstructured form."""
    original = data.draw(instances(cls))

    plain = unstructure(original)
    from_plain = structure(plain, cls)
    encoded = dumps(original)

    assert type(from_plain) is cls
    assert fields_of(from_plain) == fields_of(original)
    assert json.loads(encoded) == plain
    assert fields_of(loads(encoded, cls)) == fields_of(original)


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
@ROUND_TRIP
@given(data=st.data())
def test_event_envelope_round_trip(cls: type[DomainEvent], data: st.DataObject) -> None:
    """An event's envelope names its type and rebuilds the same concrete event."""
    event = data.draw(instances(cls))

    envelope = event_to_dict(event)
    rebuilt = event_from_dict(json.loads(json.dumps(envelope)))

    assert envelope["type"] == cls.__name__
    assert type(rebuilt) is cls
    assert fields_of(rebuilt) == fields_of(event)


def test_event_typed_field_keeps_the_concrete_event() -> None:
    """A field typed as the base DomainEvent is written as an envelope, so its subclass and
    all its fields survive the round trip."""
    event = ProjectUpdated(
        project_id=ProjectId(new_id()),
        organization_id=OrganizationId(new_id()),
        changed=("name", "description"),
    )
    message = OutboxMessage(
        id=uuid.uuid4(), event=event, created_at=dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    )

    data = unstructure(message)
    rebuilt = loads(dumps(message), OutboxMessage)

    assert data["event"]["type"] == "ProjectUpdated"
    assert type(rebuilt.event) is ProjectUpdated
    assert fields_of(rebuilt) == fields_of(message)


# --------------------------------------------------------------------------- the data


def a_project() -> Project:
    return Project(
        organization_id=OrganizationId(uuid.UUID("00000000-0000-4000-8000-000000000001")),
        name="Billing",
        slug="billing",
        repository_url="https://git.example.com/billing.git",
        settings=ProjectSettings(analyze_branches=("main", "release")),
        metadata=ProjectMetadata(
            languages={ProgrammingLanguage.PYTHON: LanguageStats(file_count=3, line_count=90)},
            last_commit=CommitInfo(
                hash="a" * 40,
                committed_at=dt.datetime(
                    2024, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))
                ),
            ),
        ),
        created_at=dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    )


def test_unstructured_data_is_plain_json_types() -> None:
    """Ids become strings, datetimes ISO-8601 with offset, enums plain values, tuples
    lists, and language keys strings."""
    project = a_project()

    data = unstructure(project)

    assert data["id"] == str(project.id)
    assert data["organization_id"] == "00000000-0000-4000-8000-000000000001"
    assert data["created_at"] == "2024-01-02T03:04:05.000006+00:00"
    assert data["metadata"]["last_commit"]["committed_at"] == "2024-03-01T12:00:00+02:00"
    assert type(data["status"]) is str and data["status"] == "active"
    assert data["settings"]["analyze_branches"] == ["main", "release"]
    assert list(data["metadata"]["languages"]) == ["python"]
    assert type(next(iter(data["metadata"]["languages"]))) is str


def test_dumps_is_compact_utf8_json() -> None:
    """dumps writes JSON without padding and keeps non-ASCII text as UTF-8."""
    project = a_project()
    project.description = "Facturación €"

    encoded = dumps(project)

    assert b", " not in encoded and b": " not in encoded
    assert "Facturación €".encode() in encoded


def test_unstructure_refuses_a_naive_datetime() -> None:
    """A datetime without an offset cannot be written, so it never has to be guessed at."""
    event = ProjectUpdated(
        project_id=ProjectId(new_id()),
        organization_id=OrganizationId(new_id()),
        occurred_at=dt.datetime(2024, 1, 1),
    )

    with pytest.raises(ValueError, match="timezone-aware"):
        unstructure(event)


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize(
    "cls",
    [OrganizationSettings, ProjectSettings, ProjectMetadata, FileMetadata, AnalysisConfig],
    ids=lambda cls: cls.__name__,
)
def test_empty_object_structures_to_the_defaults(cls: type[object]) -> None:
    """'{}' gives the default settings or metadata."""
    assert loads(b"{}", cls) == cls()


def test_missing_nested_keys_take_their_defaults() -> None:
    """A partial settings object keeps the defaults of every key it leaves out."""
    settings_ = structure({"notification_preferences": {"digest": "daily"}}, OrganizationSettings)

    assert settings_ == OrganizationSettings(
        notification_preferences=NotificationPreferences(digest="daily")
    )


def test_derived_is_violation_key_is_ignored() -> None:
    """A stored ``is_violation`` is not trusted: the metric derives it from its values."""
    data = {
        "file_id": str(new_id()),
        "job_id": str(new_id()),
        "metric_type": "complexity",
        "metric_name": "cyclomatic",
        "value": 3,
        "threshold_max": 10,
        "is_violation": True,
    }

    metric = structure(data, CodeMetric)

    assert metric.is_violation is False
    assert metric.value == 3.0


def test_driver_values_are_accepted_as_they_come() -> None:
    """UUIDs, datetimes and Decimals, as a database driver returns them, structure too."""
    when = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    file_id, job_id = FileId(new_id()), JobId(new_id())
    row = {
        "file_id": file_id,
        "job_id": job_id,
        "metric_type": "size",
        "metric_name": "nloc",
        "value": decimal.Decimal("12.5000"),
        "created_at": when,
    }

    metric = structure(row, CodeMetric)

    assert (metric.file_id, metric.job_id, metric.value, metric.created_at) == (
        file_id,
        job_id,
        12.5,
        when,
    )
    assert metric.metric_type is MetricType.SIZE


# --------------------------------------------------------------------------- bad data


def with_change(path: str, value: Any) -> dict[str, Any]:
    """The unstructured sample project with the value at a dotted ``path`` replaced
    (``...`` removes the key)."""
    data: dict[str, Any] = unstructure(a_project())
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("slug", "Not A Slug", "slug"),
        ("organization_id", "not-a-uuid", "UUID"),
        ("name", ..., "required"),
        ("name", 42, "string"),
        ("status", "paused", "one of"),
        ("created_at", "2024-01-01T00:00:00", "UTC offset"),
        ("created_at", "yesterday", "ISO-8601"),
        ("settings.analyze_branches", "main", "list"),
        ("settings.auto_analyze_on_push", "yes", "true or false"),
        ("metadata.total_files", "12", "integer"),
        ("metadata.total_files", -1, "at least 0"),
        ("metadata.quality_score", -3, "negative"),
        ("metadata.last_commit.hash", "xyz", "hexadecimal"),
    ],
)
def test_bad_data_names_the_path_to_the_bad_value(path: str, value: Any, reason: str) -> None:
    """Invalid data raises the domain ValidationError with the path from the root."""
    with pytest.raises(ValidationError, match=reason) as raised:
        structure(with_change(path, value), Project)

    assert raised.value.entity == "Project"
    assert raised.value.field == path


def test_bad_mapping_key_is_named() -> None:
    """An unknown language used as a key is reported at that key, with the key as value."""
    data = with_change("metadata.languages", {"klingon": {}})

    with pytest.raises(ValidationError, match="one of") as raised:
        structure(data, Project)

    assert raised.value.field == "metadata.languages.klingon"
    assert raised.value.value == "klingon"


def test_bad_list_item_is_named_by_index() -> None:
    """A bad element of a list is reported with its index."""
    data = with_change("settings.analyze_branches", ["main", 7])

    with pytest.raises(ValidationError) as raised:
        structure(data, Project)

    assert raised.value.field == "settings.analyze_branches[1]"
    assert raised.value.value == 7


def test_cross_field_invariants_are_checked() -> None:
    """An entity's own invariants hold: a job cannot complete before it started."""
    job = AnalysisJob(project_id=ProjectId(new_id()))
    data = unstructure(job) | {
        "status": JobStatus.COMPLETED.value,
        "started_at": "2024-01-02T00:00:00+00:00",
        "completed_at": "2024-01-01T00:00:00+00:00",
    }

    with pytest.raises(ValidationError, match="started_at") as raised:
        structure(data, AnalysisJob)

    assert raised.value.field == "completed_at"


@pytest.mark.parametrize("data", [None, "project", ["a"], 3])
def test_non_object_data_is_refused(data: object) -> None:
    """Anything but a mapping where an entity belongs is a ValidationError, not a crash."""
    with pytest.raises(ValidationError, match="must be an object"):
        structure(data, Project)


def test_loads_refuses_text_that_is_not_json() -> None:
    """Malformed JSON is a ValidationError naming the type it was meant to be."""
    with pytest.raises(ValidationError, match="Project: is not valid JSON"):
        loads(b'{"name": ', Project)


def test_enum_values_are_checked() -> None:
    """A value outside an enumeration is refused rather than kept as a string."""
    with pytest.raises(ValidationError, match="one of"):
        structure("urgent", Severity)
    assert structure("archived", ProjectStatus) is ProjectStatus.ARCHIVED


# --------------------------------------------------------------------------- events


def test_unknown_event_type_is_a_value_error_naming_it() -> None:
    """An envelope of a type no event has raises ValueError naming that type."""
    with pytest.raises(ValueError, match="NoSuchEvent"):
        event_from_dict({"type": "NoSuchEvent", "data": {}})


def test_envelope_without_data_is_refused() -> None:
    """An envelope must carry the event's data."""
    with pytest.raises(ValidationError, match="required") as raised:
        event_from_dict({"type": "ProjectCreated"})

    assert raised.value.field == "data"


def test_bad_event_data_names_the_field() -> None:
    """Invalid event data is reported under the envelope's data key."""
    envelope: dict[str, Any] = {"type": "MemberAdded", "data": {"organization_id": str(new_id())}}
    envelope["data"] |= {"user_id": str(new_id()), "role": "boss"}

    with pytest.raises(ValidationError, match="one of") as raised:
        event_from_dict(envelope)

    assert raised.value.field == "data.role"
