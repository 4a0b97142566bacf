-- Ordered rollup reads name the symbol as a one-element array and order by (symbol, time)
-- (storage/rollup_reads.py), so only a (symbol, time) index can serve them, never the time-only
-- index TimescaleDB gives every materialized hypertable (kept: refreshes delete by time). Both
-- directions are one index, scanned forwards or backwards, as the portable tables' primary
-- keys are; it replaces TimescaleDB's (symbol, time DESC) index rather than adding a second.
DO $$
DECLARE
    agg record;
    old_index record;
BEGIN
    FOR agg IN
        SELECT c.user_view_name AS name, h.schema_name AS mat_schema, h.table_name AS mat_table
        FROM _timescaledb_catalog.continuous_agg c
        JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
        WHERE c.user_view_schema = current_schema()
          AND c.user_view_name IN ('bars_5m', 'bars_15m', 'bars_30m', 'bars_1h', 'bars_4h',
                                   'bars_1w', 'bars_1mo')
    LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (symbol, time)',
                       agg.name || '_symbol_time', agg.name);
        FOR old_index IN
            SELECT schemaname, indexname FROM pg_indexes
            WHERE schemaname = agg.mat_schema AND tablename = agg.mat_table
              AND indexdef LIKE '%(symbol, "time" DESC)'
        LOOP
            EXECUTE format('DROP INDEX %I.%I', old_index.schemaname, old_index.indexname);
        END LOOP;
    END LOOP;
END
$$;
