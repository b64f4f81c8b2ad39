-- A sync job whose caller gave up before a worker reached it ends 'expired', unsynthesised.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled', 'expired'));

-- A worker looks for finished audio with the same content address before synthesising.
CREATE INDEX jobs_succeeded_by_cache_key ON jobs (cache_key) WHERE status = 'succeeded';
