"""The one reader of the environment: every setting, its default and what it is for.

`.env.example` must list every field (a test checks it), so operators never have to read code
to learn what can be configured.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Literal, get_args
from urllib.parse import urlsplit

import orjson
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from domain.introspection import Introspection
from domain.schedules import valid_schedule
from storage.policy_bounds import MIN_COMPRESS_AFTER
from storage.policy_bounds import MIN_RETAIN_MINUTE_BARS as MIN_RETAIN

_DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>weeks?|days?|hours?)\s*$", re.IGNORECASE)


class Settings(BaseSettings):
    """marketgraph's configuration; values come from the environment or a `.env` file."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL is started under the user "
        "data directory.",
    )
    db_pool_min_size: int = Field(default=10, ge=0, description="Connections kept open.")
    db_pool_max_size: int = Field(
        default=20, ge=2, description="Most connections at once (fetch-on-miss needs two)."
    )
    db_command_timeout: float = Field(
        default=30.0, gt=0, description="Seconds before one SQL statement is abandoned."
    )
    statement_timeout_seconds: float = Field(
        default=10,
        description="Seconds the database lets one statement of a request run before "
        "cancelling it (the client gets BAD_USER_INPUT: ask for less); 0 = no limit.",
    )
    database_read_urls: str = Field(
        default="",
        description="Comma-separated PostgreSQL URLs of streaming read replicas of DATABASE_URL. "
        "Reads go to one that is up and within MAX_REPLICA_LAG_SECONDS; writes, fetch-on-miss, "
        "key management and reads after a write in the same request use the primary.",
    )
    max_replica_lag_seconds: float = Field(
        default=5.0, ge=0, description="A replica further behind the primary than this is skipped."
    )
    replica_check_seconds: float = Field(
        default=1.0, gt=0, description="How often each replica's health and lag are sampled."
    )
    embedded_data_dir: str | None = Field(
        default=None,
        description="Where the embedded PostgreSQL keeps its data (default: the user data "
        "directory, e.g. ~/.local/share/marketgraph/pgdata).",
    )
    timescaledb: str = Field(
        default="auto",
        pattern="^(auto|off)$",
        description="'auto' uses TimescaleDB when the server offers it; 'off' never creates it.",
    )
    host: str = Field(default="127.0.0.1", description="Address `marketgraph serve` binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `marketgraph serve` binds.")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto are trusted (e.g. 127.0.0.1,10.0.0.0/8; '*' trusts "
        "any peer). Empty: none, the peer is the client.",
    )
    log_level: str = Field(
        default="info",
        pattern="(?i)^(debug|info|warning|error|critical)$",
        description="Log level of marketgraph's own loggers (debug, info, warning, error, "
        "critical); other libraries log warnings and worse unless this is debug.",
    )
    log_format: str = Field(
        default="auto",
        pattern="^(auto|json|text)$",
        description="'json' lines, readable 'text', or 'auto': text on a terminal, else JSON.",
    )
    polygon_api_key: str | None = Field(
        default=None, description="Polygon.io key; unset turns fetch-on-miss off."
    )
    polygon_base_url: str = Field(
        default="https://api.polygon.io",
        description="Polygon.io API base URL: an absolute http(s) URL (anything else is refused "
        "when settings load).",
    )
    polygon_requests_per_minute: float = Field(
        default=5.0, ge=0, description="Upstream request budget (free plan: 5; 0 = unlimited)."
    )
    fetch_max_symbols: int = Field(
        default=20, ge=1, description="Most symbols one request may fetch from upstream."
    )
    fetch_max_bars_per_symbol: int = Field(
        default=50_000,
        ge=1,
        description="Longest span one request may fetch per symbol, in base bars (50000: about "
        "34 days of 1m, 136 years of 1d).",
    )
    fetch_max_upstream_calls: int = Field(
        default=40, ge=1, description="Most upstream requests (pages) one request may cause."
    )
    anonymous_reads: Literal["auto"] | bool = Field(
        default="auto",
        description="Serve stored data without an API key (fetching still needs one). 'auto': "
        "only for a local playground, i.e. HOST is a loopback address and the embedded "
        "PostgreSQL is used (no DATABASE_URL); any other address or database needs keys.",
    )
    default_rate_limit_per_minute: float = Field(
        default=600, ge=0, description="Per-key request limit when a key has none (0 = unlimited)."
    )
    anonymous_rate_limit_per_minute: float = Field(
        default=120,
        ge=0,
        description="Requests per minute each client address may send without a key "
        "(0 = unlimited).",
    )
    key_cache_ttl_seconds: float = Field(
        default=30,
        ge=0,
        description="How long a verified key is trusted without a lookup; a revocation takes "
        "effect within this.",
    )
    key_negative_cache_seconds: float = Field(
        default=5, ge=0, description="How long an unknown key is remembered as unknown."
    )
    failed_auth_per_minute: float = Field(
        default=30, ge=0, description="Bad keys allowed per client address (0 = unlimited)."
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by all workers and instances (e.g. redis://127.0.0.1:6379/0) "
        "for per-key, per-address and failed-auth limits and the circuit breaker; unset: those "
        "are per process.",
    )
    redis_key_prefix: str = Field(
        default="marketgraph:",
        min_length=1,
        description="Prefix of every Redis key marketgraph writes (one per deployment sharing "
        "a Redis).",
    )
    redis_timeout_seconds: float = Field(
        default=0.5,
        gt=0,
        le=30,
        description="How long a Redis command may take before Redis counts as unreachable "
        "(then limits fall back to this process until it answers again).",
    )
    audit_retention_days: int = Field(
        default=30, ge=0, description="Audit rows older than this are deleted (0 = keep forever)."
    )
    usage_flush_seconds: float = Field(
        default=5, gt=0, description="How often key usage counters and audit rows are written."
    )
    max_request_body_bytes: int = Field(
        default=1_000_000, ge=1, description="Largest request body accepted (413 above it)."
    )
    header_timeout_seconds: int = Field(
        default=10,
        ge=1,
        description="Seconds a connection has to send a complete request head, from opening "
        "or from its previous response (also how long an idle keep-alive connection stays).",
    )
    body_timeout_seconds: float = Field(
        default=30, gt=0, description="Seconds a request body has to arrive in full (408 after)."
    )
    max_concurrency: int = Field(
        default=1000,
        ge=0,
        description="Connections and requests one worker serves at once; more are answered 503 "
        "(0 = unlimited).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, as a JSON list, e.g. "
        '["https://app.example.com"] ("*" allows any origin, then without credentials).',
    )
    introspection: Introspection = Field(
        default=Introspection.AUTHENTICATED,
        description="Who may introspect the schema: 'public', 'authenticated' (callers with a "
        "key; GraphiQL works once its headers carry one) or 'off' (true/false mean public/off).",
    )
    max_bars_per_response: int = Field(
        default=100_000,
        ge=1,
        description="Cap on the cost of one request: bars it could return, plus rows its "
        "summaries scan / 10.",
    )
    cache_ttl_seconds: float = Field(
        default=300, ge=0, description="How long a read query's answer is reused (0 = no cache)."
    )
    cache_max_entries: int = Field(
        default=1000, ge=1, description="Most answers the response cache holds (LRU beyond)."
    )
    cache_max_entry_bytes: int = Field(
        default=1_000_000,
        ge=1,
        description="Largest answer (encoded JSON bytes) kept in the shared Redis response "
        "cache; larger ones are not cached while Redis is used.",
    )
    persisted_queries_max_entries: int = Field(
        default=10_000,
        ge=1,
        description="Most documents Automatic Persisted Queries keep per worker (least recently "
        "used go first).",
    )
    persisted_queries_file: str | None = Field(
        default=None,
        description="A persisted-query manifest (JSON, Apollo's format; `marketgraph "
        "persisted-queries build` writes one): its documents can be run by hash.",
    )
    persisted_queries_only: bool = Field(
        default=False,
        description="Run only the documents of PERSISTED_QUERIES_FILE (admin keys excepted); "
        "GraphiQL is off. Needs PERSISTED_QUERIES_FILE.",
    )
    operation_plan_cache_size: int = Field(
        default=256,
        ge=0,
        description="Distinct GraphQL documents kept parsed and validated, so a repeated one "
        "skips both (LRU beyond; 0 = none).",
    )
    metrics_max_operations: int = Field(
        default=100,
        ge=1,
        description="Distinct GraphQL operation names given their own metrics label; later "
        "ones are counted as 'other'.",
    )
    alert_interval_seconds: float = Field(
        default=30, ge=0, description="How often alert thresholds are checked (0 = never)."
    )
    alert_error_rate_pct: float = Field(
        default=5.0,
        ge=0,
        description="Alert when more than this % of requests fail (server side) in 5 minutes.",
    )
    alert_p95_ms: float = Field(
        default=2000, ge=0, description="Alert when p95 latency over 5 minutes exceeds this."
    )
    alert_upstream_failures: int = Field(
        default=5, ge=1, description="Alert at this many failed Polygon requests in 5 minutes."
    )
    alert_dedupe_seconds: float = Field(
        default=900, ge=0, description="The same alert fires at most once per this many seconds."
    )
    alert_max_per_hour: int = Field(
        default=20, ge=1, description="Most alerts fired per hour, all types together."
    )
    alert_email_to: list[str] = Field(
        default_factory=list,
        description='Recipients of alert emails, as a JSON list (["ops@example.com"]); empty: '
        "alerts are only logged.",
    )
    alert_email_from: str = Field(
        default="marketgraph@localhost", description="Sender address of alert emails."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for alert emails.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_username: str | None = Field(default=None, description="SMTP login (optional).")
    smtp_password: str | None = Field(default=None, description="SMTP password (optional).")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection (STARTTLS)."
    )
    graphiql_assets_dir: str | None = Field(
        default=None,
        description="node_modules directory holding GraphiQL's browser assets (`npm ci`). "
        "Unset: the repository's node_modules, which an installed package (pip install .) lacks; "
        "without assets GraphiQL answers 503 (nothing is loaded from a CDN).",
    )

    backfill_schedule: str | None = Field(
        default=None,
        description="Cron schedule of the tracked-symbol backfill, e.g. '0 * * * *' (hourly;"
        " a sixth field is seconds). Unset: no scheduled backfill. Needs POLYGON_API_KEY.",
    )
    backfill_lookback_days: int = Field(
        default=30, ge=1, le=3660, description="Days back each scheduled backfill covers."
    )
    compress_after: timedelta | None = Field(
        default=None,
        description="Full TimescaleDB only: compress base bars older than this (e.g. '30 days',"
        " '2 weeks'; at least 1 day). Unset: nothing is compressed.",
    )
    retain_minute_bars_for: timedelta | None = Field(
        default=None,
        description="Full TimescaleDB only: delete raw minute bars older than this (e.g. '90 "
        "days'; at least 8 days), keeping every rollup. Unset: minute bars are kept for ever.",
    )

    max_subscriptions_per_key: int = Field(
        default=20,
        ge=1,
        description="Live subscriptions one API key may hold at once, per worker process "
        "(key-less callers share one allowance).",
    )
    subscription_queue_size: int = Field(
        default=100,
        ge=1,
        description="Updates a live subscriber may fall behind before it is disconnected "
        "(close code 4008).",
    )
    subscription_ping_seconds: float = Field(
        default=20, gt=0, description="A quiet subscription websocket is pinged this often."
    )
    dashboard_dir: str | None = Field(
        default=None,
        description="Directory holding the dashboard's files (served at /dashboard). Unset: the "
        "repository's dashboard/, which an installed package lacks (then /dashboard answers 503).",
    )

    @field_validator(
        "default_rate_limit_per_minute",
        "anonymous_rate_limit_per_minute",
        "failed_auth_per_minute",
        "polygon_requests_per_minute",
    )
    @classmethod
    def _rate(cls, value: float) -> float:
        """0 (unlimited) or a rate a token bucket can hold: 0.01 to 1,000,000 per minute."""
        if value != 0 and not 0.01 <= value <= 1_000_000:
            raise ValueError(f"must be 0 (unlimited) or between 0.01 and 1000000, got {value}")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """An empty value of an optional setting means unset: `.env.example` leaves them
        empty, and copied to `.env` it must start what an empty environment starts (an empty
        GRAPHIQL_ASSETS_DIR or DASHBOARD_DIR was read as the current directory)."""
        if value == "" and info.field_name in _OPTIONAL:
            return None
        return value

    @field_validator("compress_after", "retain_minute_bars_for", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """'30 days', '2 weeks', '36 hours' as well as what pydantic reads (seconds, ISO 8601)."""
        if isinstance(value, str):
            if not value.strip():
                return None
            match = _DURATION.match(value)
            if match:
                return timedelta(**{match["unit"].lower().rstrip("s") + "s": int(match["n"])})
        return value

    @field_validator("compress_after", "retain_minute_bars_for")
    @classmethod
    def _policy_minimum(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        least = MIN_COMPRESS_AFTER if info.field_name == "compress_after" else MIN_RETAIN
        if value is not None and value < least:
            raise ValueError(f"must be at least {least.days} days or unset, got {value}")
        return value

    @field_validator("statement_timeout_seconds")
    @classmethod
    def _statement_timeout(cls, value: float) -> float:
        """0 (off) or at least PostgreSQL's unit, a millisecond (a smaller value would round
        to 0 and silently turn the limit off)."""
        if value != 0 and not 0.001 <= value <= 3600:
            raise ValueError(f"must be 0 (off) or between 0.001 and 3600, got {value}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        """Empty means unset; anything else a URL redis-py can open, refused when settings load."""
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must start with redis://, rediss:// or unix://, got {value[:40]!r}")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        """Each entry an IP address or network (or '*'), so a typo never trusts the wrong peer."""
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if entry != "*":
                ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("introspection", mode="before")
    @classmethod
    def _introspection(cls, value: object) -> object:
        """The old boolean values still work: true is public, false is off."""
        legacy = {"true": "public", "1": "public", "false": "off", "0": "off"}
        if isinstance(value, bool):
            return Introspection.PUBLIC if value else Introspection.OFF
        return legacy.get(str(value).lower(), value) if isinstance(value, str) else value

    @field_validator("polygon_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        """Refused at load, so a typo never gets as far as start-up."""
        try:
            parts = urlsplit(value)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018  (raises ValueError for a port out of range)
        except ValueError:  # an unclosed IPv6 bracket, a bad port
            valid = False
        if not valid:
            raise ValueError(f"must be an absolute http(s) URL with a host, got {value!r}")
        return value

    @field_validator("backfill_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not valid_schedule(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value

    @model_validator(mode="after")
    def _allow_list_needs_a_file(self) -> Settings:
        """An allow-list mode without a list would refuse everything: a configuration error."""
        if self.persisted_queries_only and not self.persisted_queries_file:
            raise ValueError("PERSISTED_QUERIES_ONLY=true needs PERSISTED_QUERIES_FILE")
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        """A typo in the scheme fails at load, naming the setting, not at the first connection
        (empty is unset: `_empty_is_unset`)."""
        if value is not None and urlsplit(value).scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("database_read_urls")
    @classmethod
    def _replica_urls(cls, value: str) -> str:
        """Each entry a PostgreSQL URL, so a typo fails at load rather than as a replica down."""
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if urlsplit(entry).scheme not in ("postgres", "postgresql"):
                raise ValueError("each entry must be a postgresql:// URL")
        return value

    def read_urls(self) -> list[str]:
        """DATABASE_READ_URLS as a list (empty: no replicas)."""
        return [u.strip() for u in self.database_read_urls.split(",") if u.strip()]

    def reads_without_key(self) -> bool:
        """Whether a caller without a key may read stored data (ANONYMOUS_READS resolved)."""
        if isinstance(self.anonymous_reads, bool):
            return self.anonymous_reads
        return self.database_url is None and is_loopback(self.host)


_OPTIONAL = frozenset(
    name
    for name, field in Settings.model_fields.items()
    if type(None) in get_args(field.annotation)
)
"""The settings that may be unset (None)."""


def invalid_settings(error: ValidationError | SettingsError) -> list[str]:
    """One line per refused setting, named as in the environment (`PORT: Input should be a
    valid integer ...`). The value is not repeated: it may be a secret."""
    if isinstance(error, SettingsError):  # a list or object setting that is not JSON
        named = re.search(r'field "(\w+)"', str(error))
        name = named[1].upper() if named else "?"
        return [f"invalid setting {name}: not JSON ({error.__cause__ or error})"]
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        if name:
            lines.append(f"invalid setting {name}: {message}")
        else:
            lines.append(f"invalid settings: {message}")
    return lines


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (`localhost`, 127.0.0.0/8, ::1).

    Any other name counts as reachable from elsewhere: the safe answer when unsure.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def env_example() -> str:
    """The text of `.env.example`: every setting, its default and what it is for."""
    lines = ["# marketgraph settings: copy to .env and change what you need.", ""]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if default is None:
            shown = ""
        elif isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, list):
            shown = orjson.dumps(default).decode()
        else:
            shown = str(default)
        lines += [f"# {field.description}", f"{name.upper()}={shown}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(env_example(), end="")
