-- Full TimescaleDB: base bars can be compressed (storage/policies.py compresses chunks older
-- than COMPRESS_AFTER; nothing is compressed while that setting is off). One compressed batch
-- per symbol and timeframe, newest first, as reads and upserts look bars up.
ALTER TABLE bars SET (timescaledb.compress,
                      timescaledb.compress_segmentby = 'symbol, timeframe',
                      timescaledb.compress_orderby = 'time DESC');
