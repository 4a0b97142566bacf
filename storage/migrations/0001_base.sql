-- Base schema: reference data, base bars, coverage, tracked symbols. Runs on any PostgreSQL.
CREATE TABLE IF NOT EXISTS mg_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE IF NOT EXISTS symbols (
    ticker           text PRIMARY KEY,
    name             text,
    market           text NOT NULL DEFAULT 'stocks',
    locale           text,
    primary_exchange text,
    currency         text,
    active           boolean NOT NULL DEFAULT true,
    details          jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Base bars: 1m and 1d only; every coarser timeframe is a rollup of these.
CREATE TABLE IF NOT EXISTS bars (
    symbol           text             NOT NULL,
    timeframe        text             NOT NULL CHECK (timeframe IN ('1m', '1d')),
    time             timestamptz      NOT NULL,
    open             double precision NOT NULL,
    high             double precision NOT NULL,
    low              double precision NOT NULL,
    close            double precision NOT NULL,
    volume           double precision NOT NULL,
    vwap             double precision,
    trades           bigint,
    source           text             NOT NULL DEFAULT 'polygon',
    fetched_at       timestamptz      NOT NULL DEFAULT now(),
    gap_detected     boolean          NOT NULL DEFAULT false,
    volume_anomaly   boolean          NOT NULL DEFAULT false,
    quality_score    real             NOT NULL DEFAULT 1,
    validation_notes text,
    PRIMARY KEY (symbol, timeframe, time)
);

-- Ranges fetched from upstream (empty ones included) per symbol and base timeframe.
CREATE TABLE IF NOT EXISTS coverage (
    symbol     text        NOT NULL,
    timeframe  text        NOT NULL CHECK (timeframe IN ('1m', '1d')),
    range      tstzrange   NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    bar_count  integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, timeframe, range)
);
CREATE INDEX IF NOT EXISTS coverage_range_idx ON coverage USING gist (range);

CREATE TABLE IF NOT EXISTS tracked_symbols (
    id              bigserial PRIMARY KEY,
    symbol          text        NOT NULL UNIQUE,
    asset_class     text        NOT NULL DEFAULT 'stock' CHECK (asset_class IN ('stock', 'crypto')),
    active          boolean     NOT NULL DEFAULT true,
    timeframes      text[]      NOT NULL DEFAULT ARRAY['1d'],
    date_added      timestamptz NOT NULL DEFAULT now(),
    last_backfill   timestamptz,
    backfill_status text        NOT NULL DEFAULT 'pending'
);

-- Buckets whose continuous aggregates still need a refresh after a committed write; drained
-- right after the write and again at start-up, so a crash in between loses nothing.
CREATE TABLE IF NOT EXISTS rollup_pending (
    id         bigserial PRIMARY KEY,
    timeframe  text        NOT NULL,
    range      tstzrange   NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
