-- Issues, their changelogs, new code periods, quality gates and measures go; results no
-- longer record their line's hash nor their issue. The results themselves stay, as 0011
-- left them. (Triggers, policies, indexes and grants go with their tables.)
DROP INDEX idx_analysis_results_issue;
ALTER TABLE analysis_results
    DROP COLUMN issue_id,
    DROP COLUMN line_hash;

DROP TABLE analysis_gates;
DROP TABLE live_measures;
DROP TABLE analysis_measures;
DROP TABLE project_quality_gates;
DROP TABLE quality_gates;
DROP TABLE new_code_periods;
DROP TABLE issue_changes;
DROP TABLE issues;

DROP FUNCTION codeant_organization_from_issue();
