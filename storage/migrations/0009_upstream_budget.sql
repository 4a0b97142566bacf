-- The upstream request budget shared by every process using this database: per budget name,
-- the theoretical arrival time of the next request (GCRA). Each request moves it on by one
-- interval in one UPDATE, so workers and instances together stay within the plan's rate.
CREATE TABLE IF NOT EXISTS upstream_budget (
    name text        PRIMARY KEY,
    tat  timestamptz NOT NULL
);
