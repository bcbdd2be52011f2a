-- Issues with identity, new code, quality gates and measures.
-- * An issue is one problem of a project's branch, followed from analysis to analysis:
--   each analysis matches its findings to the branch's issues, so that an issue keeps its
--   id, its first sighting and a user's triage while its line moves or its file is
--   renamed. issue_changes is its changelog (every move, by an analysis or a user). A
--   result records the line's content hash (line_hash) and the issue it observed.
-- * new_code_periods say what a branch's new code is measured from (per project, branch
--   NULL, overridable per branch); quality_gates are an organization's named conditions
--   (one default), assigned per project in project_quality_gates.
-- * analysis_measures keep the measures of each analysis (their history), live_measures
--   those of each branch's latest analysis, analysis_gates the gate each analysis got.
-- * Every new table is a tenant table: organization_id (filled from the parent row when an
--   insert leaves it out), forced row-level security, the application role's rights, and
--   an audit trigger (per row, or per statement for the rows analyses write in bulk).
-- * The results stored so far become issues: one per project, branch, file, rule, title
--   and line among them, open when the branch's latest completed job holds such a result,
--   else closed as fixed. Carrying them over is the schema's work, not a change by an
--   actor: it writes no audit entry, as 0010 recorded none for the rows it found.
-- depends: 0011_row_level_security

SET LOCAL codeant.scope = 'system';

-- ---------------------------------------------------------------- tables

CREATE TABLE issues (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL,
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    branch VARCHAR(255) NOT NULL DEFAULT '',
    rule_id VARCHAR(100) NOT NULL,
    severity VARCHAR(20) NOT NULL,
    category VARCHAR(50) NOT NULL,
    title VARCHAR(500) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    file_id UUID REFERENCES file_index(id) ON DELETE SET NULL,
    path TEXT NOT NULL DEFAULT '',
    line INTEGER,
    line_hash VARCHAR(64) NOT NULL DEFAULT '',
    status VARCHAR(20) NOT NULL DEFAULT 'open',
    resolution VARCHAR(20),
    new_code BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen_job_id UUID REFERENCES analysis_jobs(id) ON DELETE SET NULL,
    last_seen_job_id UUID REFERENCES analysis_jobs(id) ON DELETE SET NULL,
    first_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
    closed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),

    CONSTRAINT ck_issues_status CHECK (
        status IN ('open', 'confirmed', 'reopened', 'resolved', 'closed')),
    CONSTRAINT ck_issues_resolution CHECK (
        resolution IN ('fixed', 'false-positive', 'wont-fix')),
    CONSTRAINT ck_issues_resolved CHECK (
        (status IN ('resolved', 'closed')) = (resolution IS NOT NULL)),
    CONSTRAINT ck_issues_closed CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CONSTRAINT ck_issues_line CHECK (line >= 1)
);

CREATE INDEX idx_issues_file ON issues(project_id, branch, file_id);
CREATE INDEX idx_issues_status ON issues(project_id, branch, status, severity);
CREATE INDEX idx_issues_closed ON issues(closed_at) WHERE status = 'closed';
-- the jobs' deletion sets these to NULL
CREATE INDEX idx_issues_first_seen_job ON issues(first_seen_job_id);
CREATE INDEX idx_issues_last_seen_job ON issues(last_seen_job_id);

CREATE TABLE issue_changes (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL,
    issue_id UUID NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    job_id UUID REFERENCES analysis_jobs(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    from_status VARCHAR(20),
    to_status VARCHAR(20) NOT NULL,
    from_resolution VARCHAR(20),
    to_resolution VARCHAR(20),
    comment TEXT
);

CREATE INDEX idx_issue_changes_issue ON issue_changes(issue_id, at);
CREATE INDEX idx_issue_changes_job ON issue_changes(job_id);

CREATE TABLE new_code_periods (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL,
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    branch VARCHAR(255),  -- NULL: the project's period
    kind VARCHAR(30) NOT NULL,
    days INTEGER,
    reference_branch VARCHAR(255),
    job_id UUID,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),

    CONSTRAINT ck_new_code_periods_kind CHECK (
        kind IN ('previous-analysis', 'days', 'reference-branch', 'analysis')),
    CONSTRAINT ck_new_code_periods_days CHECK ((kind = 'days') = (days IS NOT NULL)),
    CONSTRAINT ck_new_code_periods_reference CHECK (
        (kind = 'reference-branch') = (reference_branch IS NOT NULL)),
    CONSTRAINT ck_new_code_periods_job CHECK ((kind = 'analysis') = (job_id IS NOT NULL)),
    CONSTRAINT uq_new_code_periods_branch UNIQUE NULLS NOT DISTINCT (project_id, branch)
);

CREATE TABLE quality_gates (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL,
    conditions JSONB NOT NULL DEFAULT '[]',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),

    UNIQUE (organization_id, name),
    -- the key a project's assignment refers to: a gate of its own organization
    CONSTRAINT uq_quality_gates_tenant UNIQUE (id, organization_id),
    CONSTRAINT ck_quality_gates_conditions CHECK (jsonb_typeof(conditions) = 'array')
);

CREATE UNIQUE INDEX uq_quality_gates_default ON quality_gates(organization_id) WHERE is_default;

CREATE TABLE project_quality_gates (
    project_id UUID PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    organization_id UUID NOT NULL,
    gate_id UUID NOT NULL,
    -- the assignment is named by its project in the audit trail
    id UUID GENERATED ALWAYS AS (project_id) STORED,

    CONSTRAINT fk_project_quality_gates_gate FOREIGN KEY (gate_id, organization_id)
        REFERENCES quality_gates(id, organization_id) ON DELETE CASCADE
);

CREATE INDEX idx_project_quality_gates_gate ON project_quality_gates(gate_id);

CREATE TABLE analysis_measures (
    job_id UUID PRIMARY KEY REFERENCES analysis_jobs(id) ON DELETE CASCADE,
    organization_id UUID NOT NULL,
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    branch VARCHAR(255) NOT NULL DEFAULT '',
    measures JSONB NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,

    CONSTRAINT ck_analysis_measures_object CHECK (jsonb_typeof(measures) = 'object')
);

CREATE INDEX idx_analysis_measures_branch ON analysis_measures(project_id, branch, at);

CREATE TABLE live_measures (
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    branch VARCHAR(255) NOT NULL,
    organization_id UUID NOT NULL,
    job_id UUID,
    measures JSONB NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,

    PRIMARY KEY (project_id, branch),
    CONSTRAINT ck_live_measures_object CHECK (jsonb_typeof(measures) = 'object')
);

CREATE TABLE analysis_gates (
    job_id UUID PRIMARY KEY REFERENCES analysis_jobs(id) ON DELETE CASCADE,
    organization_id UUID NOT NULL,
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    branch VARCHAR(255) NOT NULL DEFAULT '',
    gate_name VARCHAR(100) NOT NULL,
    status VARCHAR(20) NOT NULL,
    conditions JSONB NOT NULL,
    evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL,

    CONSTRAINT ck_analysis_gates_status CHECK (status IN ('passed', 'failed')),
    CONSTRAINT ck_analysis_gates_conditions CHECK (jsonb_typeof(conditions) = 'array')
);

CREATE INDEX idx_analysis_gates_branch ON analysis_gates(project_id, branch);

ALTER TABLE analysis_results
    ADD COLUMN line_hash VARCHAR(64) NOT NULL DEFAULT '',
    ADD COLUMN issue_id UUID REFERENCES issues(id) ON DELETE SET NULL;

CREATE INDEX idx_analysis_results_issue ON analysis_results(issue_id);

-- ---------------------------------------------------------------- organization_id

CREATE FUNCTION codeant_organization_from_issue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT organization_id INTO NEW.organization_id FROM issues WHERE id = NEW.issue_id;
    IF NOT FOUND AND NEW.issue_id IS NOT NULL THEN
        PERFORM codeant_missing_parent(TG_TABLE_NAME, 'issue_id', NEW.issue_id::text, 'issues');
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_issues_organization BEFORE INSERT ON issues
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_project();
CREATE TRIGGER trg_issue_changes_organization BEFORE INSERT ON issue_changes
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_issue();
CREATE TRIGGER trg_new_code_periods_organization BEFORE INSERT ON new_code_periods
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_project();
CREATE TRIGGER trg_project_quality_gates_organization BEFORE INSERT ON project_quality_gates
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_project();
CREATE TRIGGER trg_analysis_measures_organization BEFORE INSERT ON analysis_measures
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_job();
CREATE TRIGGER trg_live_measures_organization BEFORE INSERT ON live_measures
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_project();
CREATE TRIGGER trg_analysis_gates_organization BEFORE INSERT ON analysis_gates
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_job();

CREATE TRIGGER trg_new_code_periods_updated_at BEFORE UPDATE ON new_code_periods
    FOR EACH ROW EXECUTE FUNCTION codeant_touch_updated_at();
CREATE TRIGGER trg_quality_gates_updated_at BEFORE UPDATE ON quality_gates
    FOR EACH ROW EXECUTE FUNCTION codeant_touch_updated_at();

-- ---------------------------------------------------------------- the results so far

-- Every result with its job, and a number for its place: the project, file, rule, title
-- and line (an issue is the place within one branch).
CREATE TEMPORARY TABLE codeant_carried_results ON COMMIT DROP AS
SELECT r.id AS result_id, r.job_id, r.created_at, j.project_id, j.organization_id,
       COALESCE(j.branch, '') AS branch, j.created_at AS job_created_at,
       r.file_id, r.rule_id, r.title, r.line_start, r.severity, r.category, r.description,
       dense_rank() OVER (
           ORDER BY j.project_id, r.file_id, r.rule_id, r.title, r.line_start) AS place
FROM analysis_results r JOIN analysis_jobs j ON j.id = r.job_id;

-- Of each branch, the places its completed jobs held: when the latest of them held it last
-- (last_held_at) and whether the branch's latest completed job holds it (held_now). A job
-- holds, of each file, the results of the latest completed job up to it with a history
-- entry for the file, unless that entry records it deleted, and its own results of no file.
CREATE TEMPORARY TABLE codeant_carried_places ON COMMIT DROP AS
WITH completed AS (
    SELECT id, project_id, COALESCE(branch, '') AS branch, created_at
    FROM analysis_jobs WHERE status = 'completed'
), latest AS (
    SELECT DISTINCT ON (project_id, branch) id
    FROM completed ORDER BY project_id, branch, created_at DESC, id DESC
), spans AS (
    -- each history entry of a completed job holds its file until the file's next entry
    SELECT h.file_id, h.job_id, h.change, j.project_id, j.created_at, j.id AS jid,
           lead(j.created_at) OVER w AS next_at, lead(j.id) OVER w AS next_id
    FROM completed j JOIN file_history h ON h.job_id = j.id
    WINDOW w AS (PARTITION BY h.file_id ORDER BY j.created_at, j.id)
), held AS (
    SELECT c.id AS holder, c.branch, c.created_at AS holder_created_at, r.place
    FROM completed c
    JOIN spans s ON s.project_id = c.project_id
        AND (s.created_at, s.jid) <= (c.created_at, c.id)
        AND (s.next_at IS NULL OR (c.created_at, c.id) < (s.next_at, s.next_id))
    JOIN codeant_carried_results r ON r.job_id = s.job_id AND r.file_id = s.file_id
    WHERE s.change <> 'deleted'
    UNION ALL
    SELECT c.id, c.branch, c.created_at, r.place
    FROM completed c JOIN codeant_carried_results r ON r.job_id = c.id AND r.file_id IS NULL
)
SELECT held.branch, held.place, max(held.holder_created_at) AS last_held_at,
       bool_or(latest.id IS NOT NULL) AS held_now
FROM held LEFT JOIN latest ON latest.id = held.holder
GROUP BY held.branch, held.place;

-- One issue per place and branch: first and last seen by the earliest and latest jobs
-- with such a result, described as the latest result describes it.
CREATE TEMPORARY TABLE codeant_carried_issues ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, grouped.*
FROM (
    SELECT place, branch, project_id, organization_id, file_id, rule_id, title, line_start,
           (array_agg(job_id ORDER BY job_created_at, job_id))[1] AS first_seen_job_id,
           min(job_created_at) AS first_seen_at,
           (array_agg(job_id ORDER BY job_created_at DESC, job_id DESC))[1] AS last_seen_job_id,
           max(job_created_at) AS last_seen_at,
           (array_agg(severity ORDER BY job_created_at DESC, job_id DESC,
                      created_at DESC, result_id DESC))[1] AS severity,
           (array_agg(category ORDER BY job_created_at DESC, job_id DESC,
                      created_at DESC, result_id DESC))[1] AS category,
           (array_agg(description ORDER BY job_created_at DESC, job_id DESC,
                      created_at DESC, result_id DESC))[1] AS description
    FROM codeant_carried_results
    GROUP BY place, branch, project_id, organization_id, file_id, rule_id, title, line_start
) grouped;

-- Open when the branch's latest completed job holds it; else closed as fixed when the
-- latest job of the branch that held it was created (when no completed job of the branch
-- ever held it, when it was last seen).
INSERT INTO issues (
    id, organization_id, project_id, branch, rule_id, severity, category, title,
    description, file_id, path, line, status, resolution, first_seen_job_id,
    last_seen_job_id, first_seen_at, last_seen_at, closed_at, created_at, updated_at)
SELECT i.id, i.organization_id, i.project_id, i.branch, i.rule_id, i.severity, i.category,
       i.title, i.description, i.file_id, COALESCE(f.relative_path, ''),
       CASE WHEN i.line_start >= 1 THEN i.line_start END,
       CASE WHEN p.held_now THEN 'open' ELSE 'closed' END,
       CASE WHEN p.held_now THEN NULL ELSE 'fixed' END,
       i.first_seen_job_id, i.last_seen_job_id, i.first_seen_at, i.last_seen_at,
       CASE WHEN p.held_now THEN NULL ELSE COALESCE(p.last_held_at, i.last_seen_at) END,
       i.first_seen_at,
       CASE WHEN p.held_now THEN i.last_seen_at
            ELSE GREATEST(i.last_seen_at, COALESCE(p.last_held_at, i.last_seen_at)) END
FROM codeant_carried_issues i
LEFT JOIN codeant_carried_places p ON p.branch = i.branch AND p.place = i.place
LEFT JOIN file_index f ON f.id = i.file_id;

-- each result observed its issue (no audit entry: see the header)
ALTER TABLE analysis_results DISABLE TRIGGER trg_analysis_results_audit_update;
UPDATE analysis_results r SET issue_id = i.id
FROM codeant_carried_results c
JOIN codeant_carried_issues i ON i.place = c.place AND i.branch = c.branch
WHERE r.id = c.result_id;
ALTER TABLE analysis_results ENABLE TRIGGER trg_analysis_results_audit_update;

DROP TABLE codeant_carried_issues;
DROP TABLE codeant_carried_places;
DROP TABLE codeant_carried_results;

-- ---------------------------------------------------------------- what is audited

CREATE TRIGGER trg_issues_audit_insert AFTER INSERT ON issues
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('project_id');
-- An analysis that finds an issue again moves its last_seen_* only: bookkeeping, like a
-- job's heartbeat, so that re-analysing unchanged code writes no entry per issue; any other
-- change of an issue (status, resolution, place, message, severity) is recorded.
CREATE TRIGGER trg_issues_audit AFTER UPDATE ON issues
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_seen_job_id' - 'last_seen_at' - 'updated_at')
          IS DISTINCT FROM (to_jsonb(NEW) - 'last_seen_job_id' - 'last_seen_at' - 'updated_at'))
    EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_issues_audit_delete AFTER DELETE ON issues
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
-- changelog entries are written in bulk by analyses: per job (a user's, of no job, one by
-- one, next to the row entry of the issue it moved)
CREATE TRIGGER trg_issue_changes_audit_insert AFTER INSERT ON issue_changes
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_issue_changes_audit_update AFTER UPDATE ON issue_changes
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('issue_id');
CREATE TRIGGER trg_issue_changes_audit_delete AFTER DELETE ON issue_changes
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('issue_id');
CREATE TRIGGER trg_new_code_periods_audit AFTER INSERT OR UPDATE OR DELETE ON new_code_periods
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_quality_gates_audit AFTER INSERT OR UPDATE OR DELETE ON quality_gates
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_project_quality_gates_audit
    AFTER INSERT OR UPDATE OR DELETE ON project_quality_gates
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_analysis_measures_audit_insert AFTER INSERT ON analysis_measures
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_analysis_measures_audit_update AFTER UPDATE ON analysis_measures
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_analysis_measures_audit_delete AFTER DELETE ON analysis_measures
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_live_measures_audit_insert AFTER INSERT ON live_measures
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('project_id');
CREATE TRIGGER trg_live_measures_audit_update AFTER UPDATE ON live_measures
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('project_id');
CREATE TRIGGER trg_live_measures_audit_delete AFTER DELETE ON live_measures
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('project_id');
CREATE TRIGGER trg_analysis_gates_audit_insert AFTER INSERT ON analysis_gates
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_analysis_gates_audit_update AFTER UPDATE ON analysis_gates
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_analysis_gates_audit_delete AFTER DELETE ON analysis_gates
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');

-- ---------------------------------------------------------------- tenancy

DO $$
DECLARE
    tenant_table TEXT;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY[
        'issues', 'issue_changes', 'new_code_periods', 'quality_gates',
        'project_quality_gates', 'analysis_measures', 'live_measures', 'analysis_gates'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format(
            'CREATE POLICY tenant ON %I USING (codeant_visible(organization_id))'
            ' WITH CHECK (codeant_visible(organization_id))',
            tenant_table);
    END LOOP;
    -- the application role, where 0011 could make it
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'codeant_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON
            issues, issue_changes, new_code_periods, quality_gates, project_quality_gates,
            analysis_measures, live_measures, analysis_gates
        TO codeant_app;
    ELSE
        RAISE NOTICE 'role codeant_app is missing: the issue tables are granted to no one';
    END IF;
END;
$$;
