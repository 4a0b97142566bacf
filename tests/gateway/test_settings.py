"""Every setting is documented where operators look: `.env.example` and the README."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings, env_example, invalid_settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_copied_to_env_starts_what_an_empty_environment_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A newcomer's `cp .env.example .env`: its empty optional values mean unset (an empty
    GRAPHIQL_ASSETS_DIR was read as the current directory, and `make run` failed)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    copied = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    empty = Settings(_env_file=None)  # type: ignore[call-arg]
    assert {n: getattr(copied, n) for n in Settings.model_fields} == {
        n: getattr(empty, n) for n in Settings.model_fields
    }
    assert copied.graphiql_assets_dir is None and copied.dashboard_dir is None


def test_env_example_lists_every_setting_with_its_default() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), (
        "regenerate with: .venv/bin/python -m gateway.settings > .env.example"
    )


@pytest.mark.parametrize("name", [n.upper() for n in Settings.model_fields])
def test_readme_documents_setting(name: str) -> None:
    assert f"`{name}`" in (ROOT / "README.md").read_text()


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BARS_PER_RESPONSE", "5")
    monkeypatch.setenv("ANONYMOUS_READS", "true")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.max_bars_per_response == 5 and settings.anonymous_reads is True


def test_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "0")
    with pytest.raises(ValueError, match="db_pool_max_size"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("host", "database_url", "anonymous_reads", "expected"),
    [
        # auto: open only for a local playground, loopback address and embedded database
        ("127.0.0.1", None, "auto", True),
        ("localhost", None, "auto", True),
        ("127.0.0.2", None, "auto", True),
        ("::1", None, "auto", True),
        ("[::1]", None, "auto", True),
        ("0.0.0.0", None, "auto", False),
        ("::", None, "auto", False),
        ("192.168.1.10", None, "auto", False),
        ("gateway.example.com", None, "auto", False),
        ("127.0.0.1", "postgresql://db/x", "auto", False),
        # explicit settings win either way
        ("0.0.0.0", "postgresql://db/x", True, True),
        ("127.0.0.1", None, False, False),
    ],
)
def test_reads_without_key(
    host: str, database_url: str | None, anonymous_reads: str | bool, expected: bool
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        host=host,
        database_url=database_url,
        anonymous_reads=anonymous_reads,  # type: ignore[arg-type]
    )
    assert settings.reads_without_key() is expected


@pytest.mark.parametrize(
    ("value", "parsed"), [("auto", "auto"), ("true", True), ("false", False), ("0", False)]
)
def test_anonymous_reads_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, parsed: str | bool
) -> None:
    monkeypatch.setenv("ANONYMOUS_READS", value)
    assert Settings(_env_file=None).anonymous_reads == parsed  # type: ignore[call-arg]


def test_anonymous_reads_refuses_other_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANONYMOUS_READS", "sometimes")
    with pytest.raises(ValueError, match="anonymous_reads"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "name",
    [
        "DEFAULT_RATE_LIMIT_PER_MINUTE",
        "ANONYMOUS_RATE_LIMIT_PER_MINUTE",
        "FAILED_AUTH_PER_MINUTE",
        "POLYGON_REQUESTS_PER_MINUTE",
    ],
)
def test_rates_are_zero_or_within_what_a_token_bucket_holds(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    for refused in ("1e-320", "0.0099", "1000000.5", "nan", "inf"):
        monkeypatch.setenv(name, refused)
        with pytest.raises(ValueError, match=name.lower()):
            Settings(_env_file=None)  # type: ignore[call-arg]
    for accepted in ("0", "0.01", "1000000"):
        monkeypatch.setenv(name, accepted)
        assert getattr(Settings(_env_file=None), name.lower()) == float(accepted)  # type: ignore[call-arg]


def test_the_statement_timeout_is_off_or_a_millisecond_to_an_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for refused in ("-1", "0.0009", "1e-320", "3600.5", "nan", "inf"):
        monkeypatch.setenv("STATEMENT_TIMEOUT_SECONDS", refused)
        with pytest.raises(ValueError, match="statement_timeout_seconds"):
            Settings(_env_file=None)  # type: ignore[call-arg]
    for accepted in ("0", "0.001", "10", "3600"):
        monkeypatch.setenv("STATEMENT_TIMEOUT_SECONDS", accepted)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.statement_timeout_seconds == float(accepted)


@pytest.mark.parametrize(
    ("name", "value", "days"),
    [
        ("COMPRESS_AFTER", "1 day", 1),
        ("COMPRESS_AFTER", "2 Weeks", 14),
        ("COMPRESS_AFTER", "P30D", 30),
        ("RETAIN_MINUTE_BARS_FOR", "8 days", 8),
        ("RETAIN_MINUTE_BARS_FOR", "216 hours", 9),
        ("RETAIN_MINUTE_BARS_FOR", "", None),
    ],
)
def test_policy_durations_are_read(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, days: int | None
) -> None:
    monkeypatch.setenv(name, value)
    got = getattr(Settings(_env_file=None), name.lower())  # type: ignore[call-arg]
    assert got == (None if days is None else timedelta(days=days))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COMPRESS_AFTER", "23 hours"),
        ("COMPRESS_AFTER", "0 days"),
        ("RETAIN_MINUTE_BARS_FOR", "7 days"),
        ("RETAIN_MINUTE_BARS_FOR", "191 hours"),
        ("RETAIN_MINUTE_BARS_FOR", "soon"),
    ],
)
def test_policy_durations_below_the_minimum_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name.lower()):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),  # the .env.example line: unset
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("rediss://cache.internal:6380", "rediss://cache.internal:6380"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_redis_url_is_optional(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    monkeypatch.setenv("REDIS_URL", value)
    assert Settings(_env_file=None).redis_url == expected  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["http://127.0.0.1:6379", "127.0.0.1:6379", "postgresql://x"])
def test_a_redis_url_that_is_not_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("REDIS_URL", value)
    with pytest.raises(ValueError, match="redis_url"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("REDIS_TIMEOUT_SECONDS", "0", False),
        ("REDIS_TIMEOUT_SECONDS", "0.001", True),
        ("REDIS_TIMEOUT_SECONDS", "30", True),
        ("REDIS_TIMEOUT_SECONDS", "30.5", False),
        ("REDIS_KEY_PREFIX", "", False),
        ("REDIS_KEY_PREFIX", "m", True),
    ],
)
def test_redis_settings_bounds(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, accepted: bool
) -> None:
    monkeypatch.setenv(name, value)
    if accepted:
        Settings(_env_file=None)  # type: ignore[call-arg]
    else:
        with pytest.raises(ValueError, match=name.lower()):
            Settings(_env_file=None)  # type: ignore[call-arg]


def test_read_replica_urls_are_a_list_of_postgresql_urls() -> None:
    urls = " postgresql://r1/mg, ,postgres://r2:5433/mg "
    settings = Settings(_env_file=None, database_read_urls=urls)  # type: ignore[call-arg]
    assert settings.read_urls() == ["postgresql://r1/mg", "postgres://r2:5433/mg"]
    assert Settings(_env_file=None).read_urls() == []  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="postgresql:// URL"):
        Settings(_env_file=None, database_read_urls="postgresql://r1/mg,r2:5432")  # type: ignore[call-arg]


@pytest.mark.parametrize("url", ["postgresql://db/mg", "postgres://u:p@db:5433/mg"])
def test_database_url_takes_postgresql_urls(url: str) -> None:
    assert Settings(_env_file=None, database_url=url).database_url == url  # type: ignore[call-arg]


def test_an_empty_database_url_is_unset_as_in_env_example() -> None:
    settings = Settings(_env_file=None, database_url="", host="127.0.0.1")  # type: ignore[call-arg]
    assert settings.database_url is None
    assert settings.reads_without_key()  # the embedded playground, as with no DATABASE_URL


@pytest.mark.parametrize("url", ["mysql://db/mg", "db:5432/mg", "localhost"])
def test_database_url_of_another_kind_is_refused_at_load(url: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert invalid_settings(raised.value) == [
        "invalid setting DATABASE_URL: must be a postgresql:// URL"
    ]
