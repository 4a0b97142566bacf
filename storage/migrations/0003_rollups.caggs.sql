-- migrate: no-transaction
-- Full TimescaleDB: hierarchical continuous aggregates, real-time (materialized_only = false).
-- Policies keep them warm; correctness never depends on them: writes refresh the touched
-- buckets themselves (storage/rollups.py).

CREATE MATERIALIZED VIEW IF NOT EXISTS bars_5m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT symbol,
       time_bucket(interval '5 minutes', time) AS time,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(volume) AS volume,
       sum(vwap * volume) AS turnover,
       sum(CASE WHEN vwap IS NULL THEN NULL ELSE volume END) AS vwap_volume,
       sum(trades) AS trades,
       count(*) AS bar_count,
       min(quality_score) AS quality_score,
       bool_or(gap_detected) AS gap_detected,
       bool_or(volume_anomaly) AS volume_anomaly
FROM bars
WHERE timeframe = '1m'
GROUP BY symbol, time_bucket(interval '5 minutes', time)
WITH NO DATA;
--;;
SELECT add_continuous_aggregate_policy('bars_5m', start_offset => interval '3 hours',
       end_offset => interval '1 minute', schedule_interval => interval '5 minutes', if_not_exists => true);
--;;
CREATE MATERIALIZED VIEW IF NOT EXISTS bars_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT symbol,
       time_bucket(interval '15 minutes', time) AS time,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(volume) AS volume,
       sum(turnover) AS turnover,
       sum(vwap_volume) AS vwap_volume,
       sum(trades) AS trades,
       sum(bar_count)::bigint AS bar_count,
       min(quality_score) AS quality_score,
       bool_or(gap_detected) AS gap_detected,
       bool_or(volume_anomaly) AS volume_anomaly
FROM bars_5m
GROUP BY symbol, time_bucket(interval '15 minutes', time)
WITH NO DATA;
--;;
SELECT add_continuous_aggregate_policy('bars_15m', start_offset => interval '6 hours',
       end_offset => interval '5 minutes', schedule_interval => interval '15 minutes', if_not_exists => true);
--;;
CREATE MATERIALIZED VIEW IF NOT EXISTS bars_30m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT symbol,
       time_bucket(interval '30 minutes', time) AS time,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(volume) AS volume,
       sum(turnover) AS turnover,
       sum(vwap_volume) AS vwap_volume,
       sum(trades) AS trades,
       sum(bar_count)::bigint AS bar_count,
       min(quality_score) AS quality_score,
       bool_or(gap_detected) AS gap_detected,
       bool_or(volume_anomaly) AS volume_anomaly
FROM bars_15m
GROUP BY symbol, time_bucket(interval '30 minutes', time)
WITH NO DATA;
--;;
SELECT add_continuous_aggregate_policy('bars_30m', start_offset => interval '12 hours',
       end_offset => interval '15 minutes', schedule_interval => interval '30 minutes', if_not_exists => true);
--;;
CREATE MATERIALIZED VIEW IF NOT EXISTS bars_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT symbol,
       time_bucket(interval '1 hour', time) AS time,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(volume) AS volume,
       sum(turnover) AS turnover,
       sum(vwap_volume) AS vwap_volume,
       sum(trades) AS trades,
       sum(bar_count)::bigint AS bar_count,
       min(quality_score) AS quality_score,
       bool_or(gap_detected) AS gap_detected,
       bool_or(volume_anomaly) AS volume_anomaly
FROM bars_30m
GROUP BY symbol, time_bucket(interval '1 hour', time)
WITH NO DATA;
--;;
SELECT add_continuous_aggregate_policy('bars_1h', start_offset => interval '2 days',
       end_offset => interval '30 minutes', schedule_interval => interval '1 hour', if_not_exists => true);
--;;
CREATE MATERIALIZED VIEW IF NOT EXISTS bars_4h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT symbol,
       time_bucket(interval '4 hours', time) AS time,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(volume) AS volume,
       sum(turnover) AS turnover,
       sum(vwap_volume) AS vwap_volume,
       sum(trades) AS trades,
       sum(bar_count)::bigint AS bar_count,
       min(quality_score) AS quality_score,
       bool_or(gap_detected) AS gap_detected,
       bool_or(volume_anomaly) AS volume_anomaly
FROM bars_1h
GROUP BY symbol, time_bucket(interval '4 hours', time)
WITH NO DATA;
--;;
SELECT add_continuous_aggregate_policy('bars_4h', start_offset => interval '7 days',
       end_offset => interval '1 hour', schedule_interval => interval '4 hours', if_not_exists => true);
--;;
CREATE MATERIALIZED VIEW IF NOT EXISTS bars_1w
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT symbol,
       time_bucket(interval '7 days', time) AS time,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(volume) AS volume,
       sum(vwap * volume) AS turnover,
       sum(CASE WHEN vwap IS NULL THEN NULL ELSE volume END) AS vwap_volume,
       sum(trades) AS trades,
       count(*) AS bar_count,
       min(quality_score) AS quality_score,
       bool_or(gap_detected) AS gap_detected,
       bool_or(volume_anomaly) AS volume_anomaly
FROM bars
WHERE timeframe = '1d'
GROUP BY symbol, time_bucket(interval '7 days', time)
WITH NO DATA;
--;;
SELECT add_continuous_aggregate_policy('bars_1w', start_offset => interval '35 days',
       end_offset => interval '1 day', schedule_interval => interval '1 day', if_not_exists => true);
--;;
CREATE MATERIALIZED VIEW IF NOT EXISTS bars_1mo
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT symbol,
       time_bucket(interval '1 month', time) AS time,
       first(open, time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, time) AS close,
       sum(volume) AS volume,
       sum(vwap * volume) AS turnover,
       sum(CASE WHEN vwap IS NULL THEN NULL ELSE volume END) AS vwap_volume,
       sum(trades) AS trades,
       count(*) AS bar_count,
       min(quality_score) AS quality_score,
       bool_or(gap_detected) AS gap_detected,
       bool_or(volume_anomaly) AS volume_anomaly
FROM bars
WHERE timeframe = '1d'
GROUP BY symbol, time_bucket(interval '1 month', time)
WITH NO DATA;
--;;
SELECT add_continuous_aggregate_policy('bars_1mo', start_offset => interval '93 days',
       end_offset => interval '1 day', schedule_interval => interval '1 day', if_not_exists => true);
--;;
INSERT INTO mg_meta (key, value) VALUES ('rollup_backend', 'caggs')
    ON CONFLICT (key) DO NOTHING;
