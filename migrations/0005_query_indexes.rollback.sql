ALTER TABLE rules DROP CONSTRAINT ck_rules_languages;
ALTER TABLE file_index DROP CONSTRAINT ck_file_index_sizes;
ALTER TABLE code_metrics DROP CONSTRAINT ck_code_metrics_thresholds;
ALTER TABLE analysis_results
    DROP CONSTRAINT ck_analysis_results_lines,
    DROP CONSTRAINT ck_analysis_results_confidence;
ALTER TABLE analysis_jobs
    DROP CONSTRAINT ck_analysis_jobs_priority,
    DROP CONSTRAINT ck_analysis_jobs_progress;
DROP INDEX idx_code_metrics_job_type;
DROP INDEX idx_analysis_results_job_created;
DROP INDEX idx_analysis_jobs_project_created;
DROP INDEX idx_file_index_repo_modified;
DROP INDEX idx_file_index_repo_path_keyset;
DROP INDEX idx_projects_org_created_keyset;
DROP INDEX idx_metrics_violations;
DROP INDEX idx_analysis_results_composite;
DROP INDEX idx_file_index_active;
