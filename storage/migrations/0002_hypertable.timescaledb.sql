-- With TimescaleDB (Apache or full): base bars become a hypertable.
SELECT create_hypertable('bars', 'time', chunk_time_interval => interval '7 days',
                         if_not_exists => true, migrate_data => true);
