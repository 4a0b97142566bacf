-- Reads use the materialized rows directly: on PostgreSQL 15 the planner cannot push
-- ORDER BY ... LIMIT into a real-time aggregate's UNION ALL (its materialized branch has a WHERE
-- clause, so it is not pulled up), so the newest bar of a symbol would sort every bucket of its
-- history. Per aggregate, `<name>_stored` is its rows below the watermark, a plain view (index
-- scans on (symbol, time DESC) that stop after LIMIT rows), and `<name>_tail` the base bars at or
-- above the watermark, which storage/rollup_reads.py aggregates (the unfinished buckets). Both
-- spell the watermark as the aggregate's own view does, so TimescaleDB turns it into a constant
-- at plan time (chunks excluded while planning; plans invalidated when the watermark moves).
DO $$
DECLARE
    agg record;
    watermark text;
BEGIN
    FOR agg IN
        SELECT c.user_view_name AS name, c.mat_hypertable_id AS id,
               h.schema_name AS mat_schema, h.table_name AS mat_table,
               CASE WHEN c.user_view_name IN ('bars_1w', 'bars_1mo') THEN '1d' ELSE '1m' END
                   AS base
        FROM _timescaledb_catalog.continuous_agg c
        JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
        WHERE c.user_view_schema = current_schema()
          AND c.user_view_name IN ('bars_5m', 'bars_15m', 'bars_30m', 'bars_1h', 'bars_4h',
                                   'bars_1w', 'bars_1mo')
    LOOP
        watermark := format('COALESCE(_timescaledb_functions.to_timestamp('
                            '_timescaledb_functions.cagg_watermark(%s)), ''-infinity''::timestamptz)',
                            agg.id);
        EXECUTE format(
            'CREATE OR REPLACE VIEW %I AS SELECT symbol, time, open, high, low, close, volume,'
            ' turnover, vwap_volume, trades::bigint AS trades, bar_count, quality_score, gap_detected,'
            ' volume_anomaly FROM %I.%I WHERE time < %s',
            agg.name || '_stored', agg.mat_schema, agg.mat_table, watermark);
        EXECUTE format(
            'CREATE OR REPLACE VIEW %I AS SELECT * FROM bars WHERE timeframe = %L AND time >= %s',
            agg.name || '_tail', agg.base, watermark);
    END LOOP;
END
$$;

-- Data stored before writes materialized their rollups: materialized at the next start-up.
INSERT INTO rollup_pending (timeframe, range)
SELECT timeframe, tstzrange(lo, hi)
FROM (
    SELECT '1m' AS timeframe, min(time) AS lo, max(time) + interval '1 minute' AS hi
    FROM bars WHERE timeframe = '1m'
    UNION ALL
    SELECT '1d', min(time), max(time) + interval '1 day' FROM bars WHERE timeframe = '1d'
) existing
WHERE lo IS NOT NULL;
