-- Coverage that reached into a bar period still open when fetched (today's bars) is only good
-- for a freshness TTL; `complete` false marks it. Older rows were all complete.
ALTER TABLE coverage ADD COLUMN IF NOT EXISTS complete boolean NOT NULL DEFAULT true;
