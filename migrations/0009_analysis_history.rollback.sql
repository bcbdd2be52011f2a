-- Back to one row per path: removed files leave the index again, with their results and
-- metrics, as they did before. Jobs recorded since keep only the results of the files
-- they analysed.
DROP INDEX idx_analysis_results_job_file;
DROP TABLE file_history;

DELETE FROM file_index WHERE analysis_status = 'deleted';
DROP INDEX uq_file_index_live_path;
ALTER TABLE file_index
    ADD CONSTRAINT file_index_repository_id_relative_path_key UNIQUE (repository_id, relative_path);

DROP INDEX idx_analysis_jobs_running;
ALTER TABLE analysis_jobs
    DROP COLUMN branch,
    DROP COLUMN commit_hash,
    DROP COLUMN dirty,
    DROP COLUMN owner,
    DROP COLUMN heartbeat_at,
    DROP COLUMN lease_expires_at;
