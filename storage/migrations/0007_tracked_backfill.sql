-- Tracked symbols: soft delete (their bars stay) and the last backfill error; one row per
-- scheduled backfill run, claimed by the first process to reach its tick.
ALTER TABLE tracked_symbols ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE tracked_symbols ADD COLUMN IF NOT EXISTS last_error text;

CREATE TABLE IF NOT EXISTS backfill_runs (
    id                 bigserial   PRIMARY KEY,
    scheduled_for      timestamptz NOT NULL UNIQUE,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    successful_symbols integer     NOT NULL DEFAULT 0,
    failed_symbols     integer     NOT NULL DEFAULT 0,
    records_imported   bigint      NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS backfill_runs_finished_idx ON backfill_runs (finished_at DESC);
