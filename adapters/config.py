"""Settings: the configuration of the adapters, read from the environment and a TOML file.

Every setting ``name`` has an environment variable ``CODEANT_<NAME>`` (``pool_max_size`` is
``CODEANT_POOL_MAX_SIZE``) and the same key in the optional TOML file: the file named by
``CODEANT_CONFIG``, else ``codeant.toml`` in the working directory. The environment wins over
the file, the file over the defaults. An empty variable counts as unset. A bad value raises
:class:`ConfigError` naming the variable (or the file and key), the value and the rule.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

__all__ = [
    "BACKENDS",
    "CONFIG_FILE_NAME",
    "CONFIG_PATH_VARIABLE",
    "EMBEDDERS",
    "LOG_LEVELS",
    "VECTOR_BACKENDS",
    "ConfigError",
    "Settings",
    "default_data_dir",
    "env_var",
    "mask_url",
]

BACKENDS = ("memory", "postgres")
VECTOR_BACKENDS = ("memory", "pgvector", "qdrant")
PGVECTOR_INDEXES = ("vector", "halfvec", "binary")
EMBEDDERS = ("hashing", "sentence-transformers")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CONFIG_FILE_NAME = "codeant.toml"
CONFIG_PATH_VARIABLE = "CODEANT_CONFIG"
_MAX_TTL = 30 * 24 * 3600
_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "api_key", "apikey", "token", "secret"})


def _default_vector_backend(settings: Any) -> str:
    """Qdrant when one is configured, else pgvector beside PostgreSQL, else in memory."""
    if settings.qdrant_url or settings.qdrant_path:
        return "qdrant"
    return "pgvector" if settings.backend == "postgres" else "memory"


class ConfigError(ValueError):
    """A setting is invalid: names the setting (variable, file key or field), the value
    and the rule it breaks."""

    def __init__(self, name: str, value: Any, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"{name}: {reason} (got {value!r})")


def env_var(field: str) -> str:
    """The environment variable of the setting ``field``."""
    return f"CODEANT_{field.upper()}"


def mask_url(url: str) -> str:
    """``url`` with its password and secret query parameters replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "***"
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in pairs):
            masked = [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs]
            query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Where data lives when ``CODEANT_DATA_DIR`` is unset: ``$XDG_DATA_HOME/codeant`` if
    that is an absolute path, else ``~/.local/share/codeant``."""
    xdg = environ.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "codeant"
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "codeant"


# Converters coerce text (from the environment) to the field's type and leave anything they
# cannot coerce unchanged, so that the rule rejects it with the full explanation.


def _as_int(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            return raw
    return raw


def _as_float(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    return raw


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _as_bool(raw: Any) -> Any:
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return raw


def _is_bool(value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError("must be true or false (also 1/0, yes/no, on/off)")


def _as_lower(raw: Any) -> Any:
    return raw.strip().lower() if isinstance(raw, str) else raw


def _as_upper(raw: Any) -> Any:
    return raw.strip().upper() if isinstance(raw, str) else raw


def _as_optional_text(raw: Any) -> Any:
    if isinstance(raw, str):
        return raw.strip() or None
    return raw


def _as_optional_path(raw: Any) -> Any:
    return None if raw is None or raw == "" else _as_path(raw)


def _as_path(raw: Any) -> Any:
    return Path(raw).expanduser() if isinstance(raw, str | os.PathLike) else raw


Rule = Callable[[Any], None]
"""Checks a converted value; raises ValueError with the reason it is rejected."""


def _one_of(choices: tuple[str, ...]) -> Rule:
    def check(value: Any) -> None:
        if value not in choices:
            raise ValueError(f"must be one of: {', '.join(choices)}")

    return check


def _int_from(low: int, high: int) -> Rule:
    def check(value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")

    return check


def _seconds_up_to(high: float) -> Rule:
    def check(value: Any) -> None:
        if not isinstance(value, float) or not 0 < value <= high:
            raise ValueError(f"must be a number of seconds above 0 and at most {high:g}")

    return check


def _url_with_scheme(*schemes: str) -> Rule:
    def check(value: Any) -> None:
        if value is None:
            return
        reason = f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
        if not isinstance(value, str):
            raise ValueError(reason)
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - parsing the port validates it
        except ValueError as exc:
            raise ValueError(f"{reason}; {exc}") from None
        if parts.scheme not in schemes or not value.startswith(f"{parts.scheme}://"):
            raise ValueError(reason)

    return check


def _absolute_path(value: Any) -> None:
    if not isinstance(value, Path) or not value.is_absolute():
        raise ValueError("must be an absolute path")


def _role_name(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 63):
        raise ValueError("must be a role name of at most 63 characters, or empty for none")


def _actor_name(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > 255 or "\x00" in value):
        raise ValueError("must be a name of at most 255 characters")


def _checked(rule: Rule) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator applying ``rule``; raises ConfigError naming the field (a secret
    field's URL masked)."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        try:
            rule(value)
        except ValueError as exc:
            raise ConfigError(attribute.name, _shown(attribute, value), str(exc)) from None

    return validate


_SECRET = {"secret": True}


def _shown(field: attrs.Attribute[Any], value: Any) -> Any:
    """``value`` as an error message may show it: a secret field's URL masked."""
    return _masked(value) if field.metadata.get("secret") and isinstance(value, str) else value


def _masked(secret: str) -> str:
    """A secret as it may be shown: a URL with its password hidden, anything else hidden."""
    return mask_url(secret) if "://" in secret else "***"


@attrs.frozen(kw_only=True)
class Settings:
    """The resolved configuration. Construct it directly (tests) or with :meth:`from_env`.

    ``backend`` is ``"postgres"`` by default: the server of ``database_url``, or without
    one an embedded PostgreSQL in ``data_dir``. ``"memory"`` keeps everything in the
    process (tests, experiments): nothing outlives it. Vectors go to a Qdrant server at
    ``qdrant_url``, or to Qdrant Edge, Qdrant's engine inside the process, in the directory
    ``qdrant_path`` (relative to ``data_dir``; one process may open it at a time); to
    pgvector otherwise (see ``vector_backend``).
    Durations are in seconds; TTLs are those of the three cache tiers: projects (hot data),
    analysis results and metric aggregations. ``cache_breaker_seconds`` is how long a cache
    that failed is skipped before it is tried again. ``outbox_relay`` runs the outbox relay
    in the background of ``running(container)`` (off in a process whose outbox is relayed by
    ``codeant outbox relay --follow``), a pass every ``outbox_relay_interval`` seconds.
    ``embedded_idle_timeout`` is how long the embedded server stays up with no codeant
    process and no client using it (0: it stops when the last one leaves). ``actor`` is who
    the audit trail records the changes of the container's units of work as (a unit made
    with ``container.uow(actor=...)`` names its own; the command line uses
    ``cli:<login name>`` when it is unset). ``database_role`` is the role the pool's
    connections switch to (``SET ROLE``) so that row-level security applies to them
    (empty: they stay the connecting user).
    """

    database_url: str | None = attrs.field(
        default=None,
        converter=_as_optional_text,
        validator=_checked(_url_with_scheme("postgresql", "postgres")),
        metadata=_SECRET,
    )
    backend: str = attrs.field(
        default="postgres",
        converter=_as_lower,
        validator=_checked(_one_of(BACKENDS)),
    )
    auto_migrate: bool = attrs.field(default=True, converter=_as_bool, validator=_checked(_is_bool))
    redis_url: str | None = attrs.field(
        default=None,
        converter=_as_optional_text,
        validator=_checked(_url_with_scheme("redis", "rediss", "unix")),
        metadata=_SECRET,
    )
    qdrant_url: str | None = attrs.field(
        default=None,
        converter=_as_optional_text,
        validator=_checked(_url_with_scheme("http", "https")),
        metadata=_SECRET,
    )
    qdrant_path: Path | None = attrs.field(default=None, converter=_as_optional_path)
    qdrant_api_key: str | None = attrs.field(
        default=None, converter=_as_optional_text, metadata=_SECRET
    )
    qdrant_timeout: float = attrs.field(
        default=10.0, converter=_as_float, validator=_checked(_seconds_up_to(3600))
    )
    vector_backend: str = attrs.field(
        default=attrs.Factory(_default_vector_backend, takes_self=True),
        converter=_as_lower,
        validator=_checked(_one_of(VECTOR_BACKENDS)),
    )
    pgvector_m: int = attrs.field(
        default=16, converter=_as_int, validator=_checked(_int_from(2, 100))
    )
    pgvector_ef_construction: int = attrs.field(
        default=64, converter=_as_int, validator=_checked(_int_from(4, 1000))
    )
    pgvector_ef_search: int = attrs.field(
        default=100, converter=_as_int, validator=_checked(_int_from(1, 1000))
    )
    pgvector_index: str = attrs.field(
        default="vector", converter=_as_lower, validator=_checked(_one_of(PGVECTOR_INDEXES))
    )
    pgvector_rescore: int = attrs.field(
        default=10, converter=_as_int, validator=_checked(_int_from(1, 100))
    )
    pgvector_build_memory_mb: int = attrs.field(
        default=0, converter=_as_int, validator=_checked(_int_from(0, 2 * 1024 * 1024 - 1))
    )
    pgvector_index_threshold: int = attrs.field(
        default=15_000, converter=_as_int, validator=_checked(_int_from(0, 2**31 - 1))
    )
    embedder: str = attrs.field(
        default="hashing", converter=_as_lower, validator=_checked(_one_of(EMBEDDERS))
    )
    pool_min_size: int = attrs.field(
        default=2, converter=_as_int, validator=_checked(_int_from(0, 1000))
    )
    pool_max_size: int = attrs.field(
        default=10, converter=_as_int, validator=_checked(_int_from(1, 1000))
    )
    pool_timeout: float = attrs.field(
        default=30.0, converter=_as_float, validator=_checked(_seconds_up_to(3600))
    )
    pool_max_lifetime: float = attrs.field(
        default=3600.0, converter=_as_float, validator=_checked(_seconds_up_to(86400))
    )
    database_role: str | None = attrs.field(
        default="codeant_app", converter=_as_optional_text, validator=_checked(_role_name)
    )
    embedding_dimension: int = attrs.field(
        default=384, converter=_as_int, validator=_checked(_int_from(8, 8192))
    )
    cache_ttl_projects: int = attrs.field(
        default=300, converter=_as_int, validator=_checked(_int_from(1, _MAX_TTL))
    )
    cache_ttl_analysis: int = attrs.field(
        default=3600, converter=_as_int, validator=_checked(_int_from(1, _MAX_TTL))
    )
    cache_ttl_metrics: int = attrs.field(
        default=86400, converter=_as_int, validator=_checked(_int_from(1, _MAX_TTL))
    )
    cache_breaker_seconds: float = attrs.field(
        default=5.0, converter=_as_float, validator=_checked(_seconds_up_to(300))
    )
    outbox_relay: bool = attrs.field(default=True, converter=_as_bool, validator=_checked(_is_bool))
    outbox_relay_interval: float = attrs.field(
        default=1.0, converter=_as_float, validator=_checked(_seconds_up_to(3600))
    )
    data_dir: Path = attrs.field(
        factory=lambda: default_data_dir(os.environ),
        converter=_as_path,
        validator=_checked(_absolute_path),
    )
    embedded_idle_timeout: int = attrs.field(
        default=300, converter=_as_int, validator=_checked(_int_from(0, 86400))
    )
    log_level: str = attrs.field(
        default="WARNING", converter=_as_upper, validator=_checked(_one_of(LOG_LEVELS))
    )
    actor: str | None = attrs.field(
        default=None, converter=_as_optional_text, validator=_checked(_actor_name)
    )

    def __attrs_post_init__(self) -> None:
        if self.qdrant_url and self.qdrant_path:
            raise ConfigError(
                "qdrant_path", str(self.qdrant_path), "cannot be set together with qdrant_url"
            )
        if self.vector_backend == "qdrant" and not (self.qdrant_url or self.qdrant_path):
            raise ConfigError(
                "vector_backend", "qdrant", "needs qdrant_url (a server) or qdrant_path (local)"
            )
        if self.vector_backend == "pgvector" and self.backend != "postgres":
            raise ConfigError("vector_backend", "pgvector", "needs the postgres backend")
        if self.pgvector_ef_construction < 2 * self.pgvector_m:
            raise ConfigError(
                "pgvector_ef_construction",
                self.pgvector_ef_construction,
                f"must be at least twice pgvector_m ({2 * self.pgvector_m})",
            )
        if self.embedder == "sentence-transformers" and self.embedding_dimension != 384:
            raise ConfigError(
                "embedding_dimension",
                self.embedding_dimension,
                "must be 384 with the sentence-transformers embedder (all-MiniLM-L6-v2)",
            )
        if self.pool_max_size < self.pool_min_size:
            raise ConfigError(
                "pool_max_size",
                self.pool_max_size,
                f"must be at least the pool min size, {self.pool_min_size}",
            )

    @property
    def cache_backend(self) -> str:
        """The cache adapter: ``"redis"`` when ``redis_url`` is set, else ``"memory"``."""
        return "redis" if self.redis_url else "memory"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        config_file: Path | None = None,
        cwd: Path | None = None,
    ) -> Settings:
        """Resolve the settings from ``environ`` over the TOML file over the defaults.

        The file is ``config_file`` if given, else the one ``CODEANT_CONFIG`` names (which
        must exist), else ``codeant.toml`` in ``cwd`` (the working directory) if present.
        A relative ``data_dir`` is taken from ``cwd`` (environment) or from the file's
        directory (file). Raises ConfigError naming the variable or the file and key.
        """
        cwd = cwd or Path.cwd()
        values: dict[str, Any] = {}
        sources: dict[str, tuple[str, Any]] = {}  # field: (where it was set, value as given)
        path = _config_path(environ, config_file, cwd)
        if path is not None:
            for key, value in _read_file(path).items():
                values[key] = value
                sources[key] = (f"{key} in {path}", value)
            if "data_dir" in values:
                values["data_dir"] = _from(path.parent, values["data_dir"])
        for field in attrs.fields(cls):
            name = env_var(field.name)
            text = environ.get(name, "").strip()
            if text:
                values[field.name] = _from(cwd, text) if field.name == "data_dir" else text
                sources[field.name] = (name, text)
        values.setdefault("data_dir", default_data_dir(environ))
        try:
            return cls(**values)
        except ConfigError as exc:
            name, given = sources.get(exc.name, (env_var(exc.name), exc.value))
            shown = _shown(attrs.fields_dict(cls)[exc.name], given)
            raise ConfigError(name, shown, exc.reason) from None

    def as_dict(self, *, mask_secrets: bool = True) -> dict[str, Any]:
        """The settings as JSON-ready values (paths as text), URLs masked unless told not."""
        result: dict[str, Any] = {}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if isinstance(value, Path):
                value = str(value)
            elif mask_secrets and field.metadata.get("secret") and isinstance(value, str):
                value = _masked(value)
            result[field.name] = value
        return result


def _from(base: Path, raw: Any) -> Any:
    """``raw`` as a path relative to ``base`` (unchanged if it is not text)."""
    return base / Path(raw).expanduser() if isinstance(raw, str) else raw


def _config_path(environ: Mapping[str, str], given: Path | None, cwd: Path) -> Path | None:
    if given is not None:
        path = cwd / given
        if not path.is_file():
            raise ConfigError("config file", str(given), "does not exist or is not a file")
        return path
    named = environ.get(CONFIG_PATH_VARIABLE, "").strip()
    if named:
        path = cwd / Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(CONFIG_PATH_VARIABLE, named, "does not exist or is not a file")
        return path
    default = cwd / CONFIG_FILE_NAME
    return default if default.is_file() else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("config file", str(path), f"cannot be read as TOML: {exc}") from None
    known = [field.name for field in attrs.fields(Settings)]
    for key in data:
        if key not in known:
            raise ConfigError(
                f"{key} in {path}", data[key], f"is not a setting; known: {', '.join(known)}"
            )
    return data
