-- Portable rollups: plain tables, refreshed for exactly the buckets a write touched
-- (storage/rollups.py), in the same transaction as the write.

CREATE TABLE IF NOT EXISTS bars_5m (
    symbol         text             NOT NULL,
    time           timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    turnover       double precision,
    vwap_volume    double precision,
    trades         bigint,
    bar_count      bigint           NOT NULL,
    quality_score  real,
    gap_detected   boolean,
    volume_anomaly boolean,
    PRIMARY KEY (symbol, time)
);

CREATE TABLE IF NOT EXISTS bars_15m (
    symbol         text             NOT NULL,
    time           timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    turnover       double precision,
    vwap_volume    double precision,
    trades         bigint,
    bar_count      bigint           NOT NULL,
    quality_score  real,
    gap_detected   boolean,
    volume_anomaly boolean,
    PRIMARY KEY (symbol, time)
);

CREATE TABLE IF NOT EXISTS bars_30m (
    symbol         text             NOT NULL,
    time           timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    turnover       double precision,
    vwap_volume    double precision,
    trades         bigint,
    bar_count      bigint           NOT NULL,
    quality_score  real,
    gap_detected   boolean,
    volume_anomaly boolean,
    PRIMARY KEY (symbol, time)
);

CREATE TABLE IF NOT EXISTS bars_1h (
    symbol         text             NOT NULL,
    time           timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    turnover       double precision,
    vwap_volume    double precision,
    trades         bigint,
    bar_count      bigint           NOT NULL,
    quality_score  real,
    gap_detected   boolean,
    volume_anomaly boolean,
    PRIMARY KEY (symbol, time)
);

CREATE TABLE IF NOT EXISTS bars_4h (
    symbol         text             NOT NULL,
    time           timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    turnover       double precision,
    vwap_volume    double precision,
    trades         bigint,
    bar_count      bigint           NOT NULL,
    quality_score  real,
    gap_detected   boolean,
    volume_anomaly boolean,
    PRIMARY KEY (symbol, time)
);

CREATE TABLE IF NOT EXISTS bars_1w (
    symbol         text             NOT NULL,
    time           timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    turnover       double precision,
    vwap_volume    double precision,
    trades         bigint,
    bar_count      bigint           NOT NULL,
    quality_score  real,
    gap_detected   boolean,
    volume_anomaly boolean,
    PRIMARY KEY (symbol, time)
);

CREATE TABLE IF NOT EXISTS bars_1mo (
    symbol         text             NOT NULL,
    time           timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    turnover       double precision,
    vwap_volume    double precision,
    trades         bigint,
    bar_count      bigint           NOT NULL,
    quality_score  real,
    gap_detected   boolean,
    volume_anomaly boolean,
    PRIMARY KEY (symbol, time)
);

INSERT INTO mg_meta (key, value) VALUES ('rollup_backend', 'portable')
    ON CONFLICT (key) DO NOTHING;
