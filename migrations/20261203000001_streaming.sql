-- A sync job's audio streams to the api process waiting for it: the worker publishes the
-- chunks to this reply queue (null for async jobs, and for jobs from before streaming).
ALTER TABLE jobs ADD COLUMN reply_to text;

-- Sentence timings for captions: [{"start_ms", "end_ms", "text_start", "text_end"}], the
-- text offsets in bytes of the job's input. Shared with the audio, like its bytes.
ALTER TABLE audio ADD COLUMN captions jsonb;
