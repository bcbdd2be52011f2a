-- Specialized indexes of seed 000 section 3.9.1, the indexes behind keyset pagination
-- and the reporting queries, and CHECK constraints for the ranges the domain enforces.
-- depends: 0004_rules

CREATE INDEX idx_file_index_active
ON file_index(repository_id, language)
WHERE analysis_status != 'deleted';

CREATE INDEX idx_analysis_results_composite
ON analysis_results(job_id, severity, category)
INCLUDE (title, description);

CREATE INDEX idx_metrics_violations
ON code_metrics(file_id, metric_type, is_violation, value)
WHERE is_violation = true;

-- keyset pagination: (parent, sort key, id); text keys sort bytewise (COLLATE "C")
CREATE INDEX idx_projects_org_created_keyset
ON projects(organization_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_file_index_repo_path_keyset
ON file_index(repository_id, (relative_path COLLATE "C"), id);
CREATE INDEX idx_file_index_repo_modified
ON file_index(repository_id, last_modified, id);
CREATE INDEX idx_analysis_jobs_project_created
ON analysis_jobs(project_id, created_at, id);
CREATE INDEX idx_analysis_results_job_created
ON analysis_results(job_id, created_at, id);
CREATE INDEX idx_code_metrics_job_type
ON code_metrics(job_id, metric_type, metric_name);

ALTER TABLE analysis_jobs
    ADD CONSTRAINT ck_analysis_jobs_progress CHECK (progress BETWEEN 0 AND 100),
    ADD CONSTRAINT ck_analysis_jobs_priority CHECK (priority BETWEEN 1 AND 10);
ALTER TABLE analysis_results
    ADD CONSTRAINT ck_analysis_results_confidence CHECK (confidence BETWEEN 0 AND 1),
    ADD CONSTRAINT ck_analysis_results_lines CHECK (line_end >= line_start);
ALTER TABLE code_metrics
    ADD CONSTRAINT ck_code_metrics_thresholds CHECK (threshold_min <= threshold_max);
ALTER TABLE file_index
    ADD CONSTRAINT ck_file_index_sizes CHECK (size_bytes >= 0 AND line_count >= 0);
ALTER TABLE rules
    ADD CONSTRAINT ck_rules_languages CHECK (cardinality(languages) > 0);
