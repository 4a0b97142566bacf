-- Reads use the materialized rows directly: on PostgreSQL 15 the planner cannot push
-- ORDER BY ... LIMIT into a real-time aggregate's UNION ALL (its materialized branch has a WHERE
-- clause, so it is not pulled up), so the newest bar of a symbol would sort every bucket of its
-- history. `bars_*_stored` expose each aggregate's rows below its watermark as a plain view
-- (index scans on (symbol, time DESC) with LIMIT); `rollup_watermark` is where they end, and
-- storage/rollup_reads.py aggregates the base bars at and above it (the unfinished tail).
DO $$
DECLARE
    agg record;
    cases text := '';
BEGIN
    FOR agg IN
        SELECT c.user_view_name AS name, c.mat_hypertable_id AS id,
               h.schema_name AS mat_schema, h.table_name AS mat_table
        FROM _timescaledb_catalog.continuous_agg c
        JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
        WHERE c.user_view_schema = current_schema()
          AND c.user_view_name IN ('bars_5m', 'bars_15m', 'bars_30m', 'bars_1h', 'bars_4h',
                                   'bars_1w', 'bars_1mo')
    LOOP
        EXECUTE format(
            'CREATE OR REPLACE VIEW %I AS SELECT symbol, time, open, high, low, close, volume,'
            ' turnover, vwap_volume, trades, bar_count, quality_score, gap_detected,'
            ' volume_anomaly FROM %I.%I WHERE time < COALESCE(_timescaledb_functions.to_timestamp('
            '_timescaledb_functions.cagg_watermark(%s)), ''-infinity''::timestamptz)',
            agg.name || '_stored', agg.mat_schema, agg.mat_table, agg.id);
        cases := cases || format(' WHEN %L THEN %s', agg.name, agg.id);
    END LOOP;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION rollup_watermark(relation text) RETURNS timestamptz'
        ' LANGUAGE sql STABLE AS $f$ SELECT COALESCE(_timescaledb_functions.to_timestamp('
        '_timescaledb_functions.cagg_watermark(CASE relation %s END)),'
        ' ''-infinity''::timestamptz) $f$', cases);
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
