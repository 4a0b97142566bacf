-- The names reads use on either backend (see 0006_rollup_reads.caggs.sql): portable rollup
-- tables are always complete, so every row is stored and no base bar is in a tail.
CREATE OR REPLACE VIEW bars_5m_stored AS SELECT * FROM bars_5m;
CREATE OR REPLACE VIEW bars_15m_stored AS SELECT * FROM bars_15m;
CREATE OR REPLACE VIEW bars_30m_stored AS SELECT * FROM bars_30m;
CREATE OR REPLACE VIEW bars_1h_stored AS SELECT * FROM bars_1h;
CREATE OR REPLACE VIEW bars_4h_stored AS SELECT * FROM bars_4h;
CREATE OR REPLACE VIEW bars_1w_stored AS SELECT * FROM bars_1w;
CREATE OR REPLACE VIEW bars_1mo_stored AS SELECT * FROM bars_1mo;
CREATE OR REPLACE VIEW bars_5m_tail AS SELECT * FROM bars WHERE false;
CREATE OR REPLACE VIEW bars_15m_tail AS SELECT * FROM bars WHERE false;
CREATE OR REPLACE VIEW bars_30m_tail AS SELECT * FROM bars WHERE false;
CREATE OR REPLACE VIEW bars_1h_tail AS SELECT * FROM bars WHERE false;
CREATE OR REPLACE VIEW bars_4h_tail AS SELECT * FROM bars WHERE false;
CREATE OR REPLACE VIEW bars_1w_tail AS SELECT * FROM bars WHERE false;
CREATE OR REPLACE VIEW bars_1mo_tail AS SELECT * FROM bars WHERE false;
