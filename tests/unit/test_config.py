"""Settings: defaults, the environment, the TOML file, precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import ConfigError, Settings, mask_url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def load(env: dict[str, str], cwd: Path, home: Path) -> Settings:
    return Settings.from_env({"HOME": str(home), **env}, cwd=cwd)


def test_defaults_when_nothing_is_configured(cwd: Path, home: Path) -> None:
    """With no variable and no file every setting takes its documented default."""
    settings = load({}, cwd, home)
    assert settings.backend == "postgres"
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.qdrant_url is None
    assert (settings.pool_min_size, settings.pool_max_size, settings.pool_timeout) == (2, 10, 30.0)
    assert settings.embedding_dimension == 384
    assert settings.cache_ttl_projects == 300
    assert settings.cache_ttl_analysis == 3600
    assert settings.cache_ttl_metrics == 86400
    assert settings.cache_breaker_seconds == 5.0
    assert (settings.outbox_relay, settings.outbox_relay_interval) == (True, 1.0)
    assert settings.data_dir == home / ".local" / "share" / "codeant"
    assert settings.log_level == "WARNING"
    assert settings.cache_backend == "memory"
    assert settings.vector_backend == "pgvector"
    assert settings.embedder == "hashing"


def test_every_variable_is_read_and_converted(cwd: Path, home: Path, tmp_path: Path) -> None:
    """Each CODEANT_* variable sets its field, converted to the field's type."""
    env = {
        "CODEANT_BACKEND": "Memory",
        "CODEANT_DATABASE_URL": "postgresql://app@db:5432/codeant",
        "CODEANT_REDIS_URL": "redis://cache:6379/0",
        "CODEANT_QDRANT_URL": "http://vectors:6333",
        "CODEANT_POOL_MIN_SIZE": "4",
        "CODEANT_POOL_MAX_SIZE": " 40 ",
        "CODEANT_POOL_TIMEOUT": "2.5",
        "CODEANT_EMBEDDING_DIMENSION": "768",
        "CODEANT_CACHE_TTL_PROJECTS": "60",
        "CODEANT_CACHE_TTL_ANALYSIS": "600",
        "CODEANT_CACHE_TTL_METRICS": "6000",
        "CODEANT_CACHE_BREAKER_SECONDS": "0.5",
        "CODEANT_OUTBOX_RELAY": "off",
        "CODEANT_OUTBOX_RELAY_INTERVAL": "2",
        "CODEANT_DATA_DIR": str(tmp_path / "data"),
        "CODEANT_LOG_LEVEL": "debug",
        "CODEANT_PGVECTOR_INDEX": "HalfVec",
        "CODEANT_PGVECTOR_RESCORE": "25",
        "CODEANT_PGVECTOR_BUILD_MEMORY_MB": "2048",
        "CODEANT_PGVECTOR_INDEX_THRESHOLD": "0",
    }
    settings = load(env, cwd, home)
    assert settings == Settings(
        backend="memory",
        database_url="postgresql://app@db:5432/codeant",
        redis_url="redis://cache:6379/0",
        qdrant_url="http://vectors:6333",
        pool_min_size=4,
        pool_max_size=40,
        pool_timeout=2.5,
        embedding_dimension=768,
        cache_ttl_projects=60,
        cache_ttl_analysis=600,
        cache_ttl_metrics=6000,
        cache_breaker_seconds=0.5,
        outbox_relay=False,
        outbox_relay_interval=2.0,
        data_dir=tmp_path / "data",
        log_level="DEBUG",
        pgvector_index="halfvec",
        pgvector_rescore=25,
        pgvector_build_memory_mb=2048,
        pgvector_index_threshold=0,
    )
    assert settings.cache_backend == "redis"
    assert settings.vector_backend == "qdrant"


def test_database_url_selects_postgres_unless_backend_is_set(cwd: Path, home: Path) -> None:
    """A database URL chooses the postgres backend; an explicit CODEANT_BACKEND wins."""
    url = {"CODEANT_DATABASE_URL": "postgres://db/codeant"}
    assert load(url, cwd, home).backend == "postgres"
    assert load({**url, "CODEANT_BACKEND": "memory"}, cwd, home).backend == "memory"


def test_empty_variables_count_as_unset(cwd: Path, home: Path) -> None:
    """An empty or blank variable leaves the setting at its default."""
    settings = load({"CODEANT_REDIS_URL": "", "CODEANT_POOL_MAX_SIZE": "  "}, cwd, home)
    assert settings.redis_url is None
    assert settings.pool_max_size == 10


def test_data_dir_follows_xdg_data_home(cwd: Path, home: Path, tmp_path: Path) -> None:
    """An absolute XDG_DATA_HOME holds the data directory; a relative one is ignored."""
    xdg = tmp_path / "xdg"
    assert load({"XDG_DATA_HOME": str(xdg)}, cwd, home).data_dir == xdg / "codeant"
    relative = load({"XDG_DATA_HOME": "xdg"}, cwd, home).data_dir
    assert relative == home / ".local" / "share" / "codeant"


def test_codeant_data_dir_wins_and_relative_paths_start_at_cwd(cwd: Path, home: Path) -> None:
    """CODEANT_DATA_DIR overrides XDG_DATA_HOME, a relative value taken from the working
    directory."""
    settings = load({"CODEANT_DATA_DIR": "state", "XDG_DATA_HOME": "/xdg"}, cwd, home)
    assert settings.data_dir == cwd / "state"


def test_toml_file_in_working_directory_is_read(cwd: Path, home: Path) -> None:
    """codeant.toml in the working directory supplies settings, typed as TOML."""
    (cwd / "codeant.toml").write_text(
        'redis_url = "redis://cache"\npool_timeout = 5\ncache_ttl_metrics = 7200\n'
        'data_dir = "var"\n'
    )
    settings = load({}, cwd, home)
    assert settings.redis_url == "redis://cache"
    assert settings.pool_timeout == 5.0
    assert settings.cache_ttl_metrics == 7200
    assert settings.data_dir == cwd / "var"


def test_environment_wins_over_file(cwd: Path, home: Path) -> None:
    """A variable overrides the same key of the file; other keys of the file still apply."""
    (cwd / "codeant.toml").write_text("pool_max_size = 20\nembedding_dimension = 512\n")
    settings = load({"CODEANT_POOL_MAX_SIZE": "30"}, cwd, home)
    assert settings.pool_max_size == 30
    assert settings.embedding_dimension == 512


def test_codeant_config_names_the_file(cwd: Path, home: Path, tmp_path: Path) -> None:
    """CODEANT_CONFIG points at a file elsewhere, read instead of ./codeant.toml, and its
    relative data_dir starts at the file's directory."""
    (cwd / "codeant.toml").write_text('log_level = "ERROR"\n')
    elsewhere = tmp_path / "etc" / "settings.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('log_level = "INFO"\ndata_dir = "data"\n')
    settings = load({"CODEANT_CONFIG": str(elsewhere)}, cwd, home)
    assert settings.log_level == "INFO"
    assert settings.data_dir == elsewhere.parent / "data"


def test_explicit_config_file_argument_wins(cwd: Path, home: Path, tmp_path: Path) -> None:
    """A config_file argument is read instead of the one CODEANT_CONFIG names."""
    named = tmp_path / "named.toml"
    named.write_text("embedding_dimension = 10\n")
    given = tmp_path / "given.toml"
    given.write_text("embedding_dimension = 20\n")
    env = {"HOME": str(home), "CODEANT_CONFIG": str(named)}
    assert Settings.from_env(env, config_file=given, cwd=cwd).embedding_dimension == 20


def test_missing_named_config_file_is_an_error(cwd: Path, home: Path) -> None:
    """A CODEANT_CONFIG that names no file raises ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=r"^CODEANT_CONFIG: does not exist.*'nowhere.toml'"):
        load({"CODEANT_CONFIG": "nowhere.toml"}, cwd, home)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("CODEANT_BACKEND", "mysql", "must be one of: memory, postgres"),
        ("CODEANT_DATABASE_URL", "mysql://db/x", "must be a URL starting with postgresql://"),
        ("CODEANT_REDIS_URL", "http://cache", "must be a URL starting with redis://"),
        ("CODEANT_QDRANT_URL", "grpc://vectors", "must be a URL starting with http://"),
        ("CODEANT_QDRANT_URL", "http://vectors:99999", "must be a URL"),
        ("CODEANT_POOL_MIN_SIZE", "-1", "must be an integer from 0 to 1000"),
        ("CODEANT_POOL_MAX_SIZE", "0", "must be an integer from 1 to 1000"),
        ("CODEANT_POOL_MAX_SIZE", "ten", "must be an integer from 1 to 1000"),
        ("CODEANT_POOL_TIMEOUT", "0", "must be a number of seconds above 0"),
        ("CODEANT_POOL_TIMEOUT", "soon", "must be a number of seconds above 0"),
        ("CODEANT_EMBEDDING_DIMENSION", "0", "must be an integer from 8 to 8192"),
        ("CODEANT_CACHE_TTL_PROJECTS", "0", "must be an integer from 1 to 2592000"),
        ("CODEANT_CACHE_TTL_ANALYSIS", "1.5", "must be an integer from 1 to 2592000"),
        ("CODEANT_CACHE_TTL_METRICS", "99999999", "must be an integer from 1 to 2592000"),
        ("CODEANT_CACHE_BREAKER_SECONDS", "0", "must be a number of seconds above 0"),
        ("CODEANT_CACHE_BREAKER_SECONDS", "301", "must be a number of seconds above 0"),
        ("CODEANT_OUTBOX_RELAY", "sometimes", "must be true or false"),
        ("CODEANT_OUTBOX_RELAY_INTERVAL", "-1", "must be a number of seconds above 0"),
        ("CODEANT_LOG_LEVEL", "loud", "must be one of: DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("CODEANT_PGVECTOR_INDEX", "pq", "must be one of: vector, halfvec, binary"),
        ("CODEANT_PGVECTOR_RESCORE", "0", "must be an integer from 1 to 100"),
        ("CODEANT_PGVECTOR_BUILD_MEMORY_MB", "-1", "must be an integer from 0 to 2097151"),
        ("CODEANT_PGVECTOR_INDEX_THRESHOLD", "-1", "must be an integer from 0 to 2147483647"),
        ("CODEANT_PGVECTOR_INDEX_THRESHOLD", "many", "must be an integer"),
    ],
)
def test_bad_variable_names_variable_and_value(
    cwd: Path, home: Path, variable: str, value: str, reason: str
) -> None:
    """A bad value raises ConfigError (a ValueError) naming the variable, the value as
    given and the rule."""
    with pytest.raises(ValueError) as caught:
        load({variable: value}, cwd, home)
    assert isinstance(caught.value, ConfigError)
    message = str(caught.value)
    assert message.startswith(f"{variable}: {reason}")
    assert message.endswith(f"(got {value!r})")


def test_pool_bounds_are_checked_together(cwd: Path, home: Path) -> None:
    """A pool max size below the min size is rejected, naming the max size variable."""
    with pytest.raises(ConfigError, match=r"^CODEANT_POOL_MAX_SIZE: .*min size, 8 \(got '4'\)"):
        load({"CODEANT_POOL_MIN_SIZE": "8", "CODEANT_POOL_MAX_SIZE": "4"}, cwd, home)


def test_bad_file_value_names_key_and_file(cwd: Path, home: Path) -> None:
    """A bad value in the file names the key and the file, and the value as written."""
    path = cwd / "codeant.toml"
    path.write_text("pool_max_size = true\n")
    with pytest.raises(ConfigError) as caught:
        load({}, cwd, home)
    assert str(caught.value).startswith(f"pool_max_size in {path}: must be an integer")
    assert str(caught.value).endswith("(got True)")


def test_unknown_file_key_is_rejected(cwd: Path, home: Path) -> None:
    """A key of the file that is not a setting is an error listing the known ones."""
    (cwd / "codeant.toml").write_text("pool_size = 5\n")
    with pytest.raises(ConfigError, match=r"pool_size in .*: is not a setting; known: .*backend"):
        load({}, cwd, home)


def test_malformed_file_is_rejected(cwd: Path, home: Path) -> None:
    """A file that is not TOML raises ConfigError naming the file."""
    (cwd / "codeant.toml").write_text("pool_size == 5\n")
    with pytest.raises(ConfigError, match=r"^config file: cannot be read as TOML"):
        load({}, cwd, home)


def test_direct_construction_validates_fields() -> None:
    """Settings built in code check each field and name it."""
    with pytest.raises(ConfigError, match=r"^embedding_dimension: must be an integer"):
        Settings(embedding_dimension=0)
    with pytest.raises(ConfigError, match=r"^data_dir: must be an absolute path"):
        Settings(data_dir=Path("relative"))


def test_bad_url_error_masks_the_password(cwd: Path, home: Path) -> None:
    """An invalid URL is shown in the error with its password masked."""
    with pytest.raises(ConfigError) as caught:
        load({"CODEANT_DATABASE_URL": "mysql://app:s3cret@db/x"}, cwd, home)
    assert "s3cret" not in str(caught.value)
    assert "mysql://app:***@db/x" in str(caught.value)


def test_as_dict_masks_secrets_unless_asked_not_to(tmp_path: Path) -> None:
    """as_dict masks URL passwords by default and gives JSON-ready values."""
    settings = Settings(
        database_url="postgresql://app:s3cret@db/codeant", data_dir=tmp_path / "data"
    )
    masked = settings.as_dict()
    assert masked["database_url"] == "postgresql://app:***@db/codeant"
    assert masked["data_dir"] == str(tmp_path / "data")
    assert settings.as_dict(mask_secrets=False)["database_url"] == settings.database_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:pw@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("postgresql://db/x?user=a&password=pw", "postgresql://db/x?user=a&password=***"),
        ("http://vectors:6333?api_key=k", "http://vectors:6333?api_key=***"),
        ("http://[bad", "***"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    """mask_url hides passwords and secret parameters and keeps everything else."""
    assert mask_url(url) == masked


@pytest.mark.parametrize(("text", "expected"), [("false", False), ("0", False), ("YES", True)])
def test_auto_migrate_reads_common_booleans(
    cwd: Path, home: Path, text: str, expected: bool
) -> None:
    """CODEANT_AUTO_MIGRATE accepts true/false, 1/0, yes/no and on/off in any case."""
    assert load({"CODEANT_AUTO_MIGRATE": text}, cwd, home).auto_migrate is expected


def test_auto_migrate_rejects_other_words(cwd: Path, home: Path) -> None:
    """A word that is not a boolean is an error naming the variable."""
    with pytest.raises(ConfigError, match=r"^CODEANT_AUTO_MIGRATE: must be true or false"):
        load({"CODEANT_AUTO_MIGRATE": "maybe"}, cwd, home)
