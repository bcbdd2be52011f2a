-- Analysis history that is never lost.
-- * Jobs say what they analysed (branch, commit, uncommitted changes) and who runs them:
--   a running job is held by its owner under a lease that the owner renews, so that a
--   job whose process died is found and failed instead of staying 'running' for ever.
-- * A removed file stays in the index, marked 'deleted' (what idx_file_index_active was
--   made for), so the analyses that saw it keep their results and metrics: only the
--   paths of files that are not deleted are unique.
-- * file_history records, per job, the files it analysed with their path and content
--   hash, and the files it saw removed: a file's history keeps its former paths, and a
--   job's results and metrics are those of the latest analysis of each file up to it.
-- depends: 0008_file_search_vector

ALTER TABLE analysis_jobs
    ADD COLUMN branch VARCHAR(255),
    ADD COLUMN commit_hash VARCHAR(40),
    ADD COLUMN dirty BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN owner VARCHAR(255),
    ADD COLUMN heartbeat_at TIMESTAMP WITH TIME ZONE,
    ADD COLUMN lease_expires_at TIMESTAMP WITH TIME ZONE;

CREATE INDEX idx_analysis_jobs_running
ON analysis_jobs(project_id) WHERE status = 'running';

ALTER TABLE file_index DROP CONSTRAINT file_index_repository_id_relative_path_key;
CREATE UNIQUE INDEX uq_file_index_live_path
ON file_index(repository_id, relative_path) WHERE analysis_status <> 'deleted';

CREATE TABLE file_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    file_id UUID NOT NULL REFERENCES file_index(id) ON DELETE CASCADE,
    job_id UUID REFERENCES analysis_jobs(id) ON DELETE CASCADE,
    change VARCHAR(20) NOT NULL,
    relative_path TEXT NOT NULL,
    previous_path TEXT,
    file_hash VARCHAR(64),
    line_count INTEGER,
    size_bytes BIGINT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),

    CONSTRAINT ck_file_history_change CHECK (
        change IN ('added', 'modified', 'renamed', 'restored', 'analysed', 'deleted')),
    CONSTRAINT ck_file_history_previous_path CHECK (
        (change = 'renamed') = (previous_path IS NOT NULL))
);

CREATE UNIQUE INDEX uq_file_history_job_file ON file_history(job_id, file_id);
CREATE INDEX idx_file_history_file ON file_history(file_id, created_at);

-- what a job holds is joined on (job, file)
CREATE INDEX idx_analysis_results_job_file ON analysis_results(job_id, file_id);

-- The analyses recorded so far covered the files they hold results or metrics of; their
-- content hash at the time is not known.
INSERT INTO file_history (file_id, job_id, change, relative_path, created_at)
SELECT f.id, covered.job_id, 'analysed', f.relative_path, j.created_at
FROM (
    SELECT job_id, file_id FROM analysis_results WHERE file_id IS NOT NULL
    UNION
    SELECT job_id, file_id FROM code_metrics
) covered
JOIN file_index f ON f.id = covered.file_id
JOIN analysis_jobs j ON j.id = covered.job_id;
