-- Jobs that failed carry a stable code next to a message that is safe to show a caller
-- (details stay in the logs).
ALTER TABLE jobs ADD COLUMN error_code text;

-- The sweeper finds jobs whose worker vanished by their lease.
CREATE INDEX jobs_running_since ON jobs (started_at) WHERE status = 'running';

-- Retention deletes finished jobs and old audio in small batches; audio is found from its
-- jobs (the foreign key) and by age.
CREATE INDEX jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_audio_id ON jobs (audio_id) WHERE audio_id IS NOT NULL;
CREATE INDEX audio_created_at ON audio (created_at);
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Audio reused by a worker must still exist: retention may have removed it from its job.
DROP INDEX jobs_succeeded_by_cache_key;
CREATE INDEX jobs_succeeded_by_cache_key ON jobs (cache_key) WHERE status = 'succeeded' AND audio_id IS NOT NULL;

-- The relay claims rows for a short lease and publishes outside any transaction, so no row
-- lock is held while the broker is slow; a relay that dies mid-publish lets the lease lapse.
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;

-- The initial migration says keys are 256 random bits; they are 192 (24 bytes, base64url).
-- Applied migrations are never edited, so the correction lives here and in the catalogue.
COMMENT ON COLUMN api_keys.key_hash IS
    'SHA-256 of the key; a key is 192 random bits, so a fast hash is enough';
