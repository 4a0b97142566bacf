-- Portable tails hold nothing, as before, but cost nothing in the plan either: `WHERE false`
-- was still costed as a sequential scan of all of `bars` under its one-time filter, so with a
-- long history a summary of a few symbols crossed jit_above_cost and spent ~30 ms compiling
-- (measured: 1M minute bars, aggregates of 3 symbols over 5 days, 81 ms -> 0.3 ms). LIMIT 0
-- is planned at the cost of its first row and never runs its scan.
CREATE OR REPLACE VIEW bars_5m_tail AS SELECT * FROM bars LIMIT 0;
CREATE OR REPLACE VIEW bars_15m_tail AS SELECT * FROM bars LIMIT 0;
CREATE OR REPLACE VIEW bars_30m_tail AS SELECT * FROM bars LIMIT 0;
CREATE OR REPLACE VIEW bars_1h_tail AS SELECT * FROM bars LIMIT 0;
CREATE OR REPLACE VIEW bars_4h_tail AS SELECT * FROM bars LIMIT 0;
CREATE OR REPLACE VIEW bars_1w_tail AS SELECT * FROM bars LIMIT 0;
CREATE OR REPLACE VIEW bars_1mo_tail AS SELECT * FROM bars LIMIT 0;
