-- Every row knows its organization, and every change of tenant data is audited.
-- * The tables below organizations and projects carry organization_id themselves, filled
--   from their parent row when an insert leaves it out, so that a row's tenant is known
--   without a join (for row-level security, for the audit trail, for distribution by
--   organization) and after its parents are gone (a cascade).
-- * A trigger on each table records who changed which row, how, and the fields before and
--   after, in the same transaction. Rows written in bulk by analyses (files, file history,
--   results, metrics) are recorded per statement: how many rows of which job or repository.
-- * Entries are staged during the transaction and sealed at its commit: numbered in one
--   chain per organization (the users and rules, which belong to none, in their own),
--   each entry hashed with the previous one's hash, so that a changed, removed or
--   inserted entry breaks the chain. The chain's head is locked only while sealing.
-- * audit_log is partitioned by month of occurred_at; codeant_audit_partitions() adds the
--   months ahead (the default partition takes anything outside them).
-- depends: 0009_analysis_history

-- ---------------------------------------------------------------- organization_id

ALTER TABLE repositories ADD COLUMN organization_id UUID;
ALTER TABLE repository_branches ADD COLUMN organization_id UUID;
ALTER TABLE file_index ADD COLUMN organization_id UUID;
ALTER TABLE file_history ADD COLUMN organization_id UUID;
ALTER TABLE analysis_jobs ADD COLUMN organization_id UUID;
ALTER TABLE analysis_results ADD COLUMN organization_id UUID;
ALTER TABLE code_metrics ADD COLUMN organization_id UUID;
ALTER TABLE project_rule_configs ADD COLUMN organization_id UUID;

UPDATE repositories r SET organization_id = p.organization_id
FROM projects p WHERE p.id = r.project_id;
UPDATE repository_branches b SET organization_id = r.organization_id
FROM repositories r WHERE r.id = b.repository_id;
UPDATE file_index f SET organization_id = r.organization_id
FROM repositories r WHERE r.id = f.repository_id;
UPDATE file_history h SET organization_id = f.organization_id
FROM file_index f WHERE f.id = h.file_id;
UPDATE analysis_jobs j SET organization_id = p.organization_id
FROM projects p WHERE p.id = j.project_id;
UPDATE analysis_results a SET organization_id = j.organization_id
FROM analysis_jobs j WHERE j.id = a.job_id;
UPDATE code_metrics m SET organization_id = j.organization_id
FROM analysis_jobs j WHERE j.id = m.job_id;
UPDATE project_rule_configs c SET organization_id = p.organization_id
FROM projects p WHERE p.id = c.project_id;

ALTER TABLE repositories ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE repository_branches ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE file_index ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE file_history ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE analysis_jobs ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE analysis_results ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE code_metrics ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE project_rule_configs ALTER COLUMN organization_id SET NOT NULL;

CREATE INDEX idx_repositories_org_id ON repositories(organization_id);
CREATE INDEX idx_repo_branches_org_id ON repository_branches(organization_id);
CREATE INDEX idx_file_index_org_id ON file_index(organization_id);
CREATE INDEX idx_analysis_jobs_org_id ON analysis_jobs(organization_id);
CREATE INDEX idx_rule_configs_org_id ON project_rule_configs(organization_id);

-- A missing parent is the foreign-key violation it would have been.
CREATE FUNCTION codeant_missing_parent(child TEXT, col TEXT, value TEXT, parent TEXT)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint', child
        USING ERRCODE = 'foreign_key_violation', TABLE = child,
              DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, value, parent);
END;
$$;

-- The organization of a new row is its parent's (static queries: their plans are cached,
-- which matters for rows COPYed by the thousand).
CREATE FUNCTION codeant_organization_from_project() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT organization_id INTO NEW.organization_id FROM projects WHERE id = NEW.project_id;
    IF NOT FOUND AND NEW.project_id IS NOT NULL THEN
        PERFORM codeant_missing_parent(TG_TABLE_NAME, 'project_id', NEW.project_id::text, 'projects');
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION codeant_organization_from_repository() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT organization_id INTO NEW.organization_id FROM repositories WHERE id = NEW.repository_id;
    IF NOT FOUND AND NEW.repository_id IS NOT NULL THEN
        PERFORM codeant_missing_parent(TG_TABLE_NAME, 'repository_id', NEW.repository_id::text, 'repositories');
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION codeant_organization_from_file() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT organization_id INTO NEW.organization_id FROM file_index WHERE id = NEW.file_id;
    IF NOT FOUND AND NEW.file_id IS NOT NULL THEN
        PERFORM codeant_missing_parent(TG_TABLE_NAME, 'file_id', NEW.file_id::text, 'file_index');
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION codeant_organization_from_job() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT organization_id INTO NEW.organization_id FROM analysis_jobs WHERE id = NEW.job_id;
    IF NOT FOUND AND NEW.job_id IS NOT NULL THEN
        PERFORM codeant_missing_parent(TG_TABLE_NAME, 'job_id', NEW.job_id::text, 'analysis_jobs');
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_repositories_organization BEFORE INSERT ON repositories
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_project();
CREATE TRIGGER trg_repo_branches_organization BEFORE INSERT ON repository_branches
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_repository();
CREATE TRIGGER trg_file_index_organization BEFORE INSERT ON file_index
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_repository();
CREATE TRIGGER trg_file_history_organization BEFORE INSERT ON file_history
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_file();
CREATE TRIGGER trg_analysis_jobs_organization BEFORE INSERT ON analysis_jobs
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_project();
CREATE TRIGGER trg_analysis_results_organization BEFORE INSERT ON analysis_results
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_job();
CREATE TRIGGER trg_code_metrics_organization BEFORE INSERT ON code_metrics
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_job();
CREATE TRIGGER trg_rule_configs_organization BEFORE INSERT ON project_rule_configs
    FOR EACH ROW WHEN (NEW.organization_id IS NULL)
    EXECUTE FUNCTION codeant_organization_from_project();

-- ---------------------------------------------------------------- the audit trail

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    organization_id UUID,
    sequence BIGINT NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    actor TEXT NOT NULL,
    entity VARCHAR(63) NOT NULL,
    entity_id TEXT NOT NULL,
    action VARCHAR(10) NOT NULL,
    before JSONB,
    after JSONB,
    previous_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL,

    PRIMARY KEY (id, occurred_at),
    CONSTRAINT ck_audit_log_action CHECK (action IN ('insert', 'update', 'delete'))
) PARTITION BY RANGE (occurred_at);

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

CREATE INDEX idx_audit_log_chain ON audit_log(organization_id, sequence);
CREATE INDEX idx_audit_log_entity ON audit_log(entity, entity_id);
CREATE INDEX idx_audit_log_occurred ON audit_log(occurred_at);

-- entries of open transactions, sealed into audit_log when they commit
CREATE TABLE audit_staging (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    organization_id UUID,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    actor TEXT NOT NULL,
    entity VARCHAR(63) NOT NULL,
    entity_id TEXT NOT NULL,
    action VARCHAR(10) NOT NULL,
    before JSONB,
    after JSONB
);

CREATE INDEX idx_audit_staging_txid ON audit_staging(txid);

-- the last sealed entry of each chain (the nil UUID is the chain of no organization)
CREATE TABLE audit_chain_heads (
    organization_id UUID PRIMARY KEY,
    sequence BIGINT NOT NULL DEFAULT 0,
    hash VARCHAR(64) NOT NULL DEFAULT ''
);

-- The hash of an entry: its fields and the previous entry's hash, in a fixed text form.
CREATE FUNCTION codeant_audit_hash(
    previous_hash TEXT, organization_id UUID, sequence BIGINT,
    occurred_at TIMESTAMP WITH TIME ZONE, actor TEXT, entity TEXT, entity_id TEXT,
    action TEXT, before JSONB, after JSONB
) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\n',
        previous_hash,
        COALESCE(organization_id::text, ''),
        sequence::text,
        (EXTRACT(EPOCH FROM occurred_at) * 1000000)::bigint::text,
        actor, entity, entity_id, action,
        COALESCE(before::text, 'null'),
        COALESCE(after::text, 'null')), 'UTF8')), 'hex')
$$;

CREATE FUNCTION codeant_audit_actor() RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('codeant.actor', true), ''), 'db:' || session_user)
$$;

-- Fields whose change is bookkeeping, not data, are left out of the trail.
CREATE FUNCTION codeant_audit_fields(value JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE AS $$
    SELECT value - 'updated_at' - 'heartbeat_at' - 'lease_expires_at' - 'search_vector'
$$;

-- Secrets are never written to the trail: only that they changed.
CREATE FUNCTION codeant_audit_redact(value JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN value ? 'password_hash' THEN jsonb_set(value, '{password_hash}', '"[redacted]"')
        ELSE value
    END
$$;

-- One entry per changed row: the fields that changed, before and after.
CREATE FUNCTION codeant_audit_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_fields JSONB;
    new_fields JSONB;
    row_data JSONB;
    changed TEXT[];
BEGIN
    IF TG_OP <> 'INSERT' THEN old_fields := codeant_audit_fields(to_jsonb(OLD)); END IF;
    IF TG_OP <> 'DELETE' THEN new_fields := codeant_audit_fields(to_jsonb(NEW)); END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(key) INTO changed
        FROM jsonb_each(new_fields) n
        WHERE n.value IS DISTINCT FROM old_fields -> n.key;
        IF changed IS NULL THEN RETURN NULL; END IF;
        SELECT jsonb_object_agg(key, old_fields -> key), jsonb_object_agg(key, new_fields -> key)
        INTO old_fields, new_fields
        FROM unnest(changed) AS key;
    END IF;
    old_fields := codeant_audit_redact(old_fields);
    new_fields := codeant_audit_redact(new_fields);
    row_data := COALESCE(to_jsonb(NEW), to_jsonb(OLD));
    INSERT INTO audit_staging (organization_id, actor, entity, entity_id, action, before, after)
    VALUES (
        CASE TG_TABLE_NAME
            WHEN 'organizations' THEN (row_data ->> 'id')::uuid
            WHEN 'users' THEN NULL
            WHEN 'rules' THEN NULL
            ELSE (row_data ->> 'organization_id')::uuid
        END,
        codeant_audit_actor(), TG_TABLE_NAME, row_data ->> 'id', lower(TG_OP),
        old_fields, new_fields);
    RETURN NULL;
END;
$$;

-- One entry per statement and owner (job, repository or file) of the rows it wrote: how
-- many rows. TG_ARGV[0] names the owner's column.
CREATE FUNCTION codeant_audit_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO audit_staging (organization_id, actor, entity, entity_id, action, after)'
        ' SELECT organization_id, codeant_audit_actor(), %L, COALESCE(%I::text, %L), %L,'
        '        jsonb_build_object(%L, count(*))'
        ' FROM changed_rows GROUP BY organization_id, %I ORDER BY 1, 4',
        TG_TABLE_NAME, TG_ARGV[0], '', lower(TG_OP), 'rows', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

-- At commit: number and hash the transaction's entries, one chain at a time (in the
-- order of their organizations, so that two transactions never wait on each other).
CREATE FUNCTION codeant_audit_seal() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    chain UUID;
    head UUID;
    position BIGINT;
    last_hash TEXT;
    entry audit_staging;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_staging WHERE id = NEW.id) THEN
        RETURN NULL;  -- sealed with an earlier entry of its transaction
    END IF;
    FOR chain IN
        SELECT DISTINCT organization_id FROM audit_staging
        WHERE txid = pg_current_xact_id() ORDER BY organization_id
    LOOP
        head := COALESCE(chain, '00000000-0000-0000-0000-000000000000');
        INSERT INTO audit_chain_heads (organization_id) VALUES (head) ON CONFLICT DO NOTHING;
        SELECT sequence, hash INTO position, last_hash
        FROM audit_chain_heads WHERE organization_id = head FOR UPDATE;
        FOR entry IN
            SELECT * FROM audit_staging
            WHERE txid = pg_current_xact_id() AND organization_id IS NOT DISTINCT FROM chain
            ORDER BY id
        LOOP
            position := position + 1;
            INSERT INTO audit_log (
                organization_id, sequence, occurred_at, actor, entity, entity_id, action,
                before, after, previous_hash, hash)
            VALUES (
                chain, position, entry.occurred_at, entry.actor, entry.entity,
                entry.entity_id, entry.action, entry.before, entry.after, last_hash,
                codeant_audit_hash(last_hash, chain, position, entry.occurred_at,
                    entry.actor, entry.entity, entry.entity_id, entry.action,
                    entry.before, entry.after))
            RETURNING hash INTO last_hash;
        END LOOP;
        DELETE FROM audit_staging
        WHERE txid = pg_current_xact_id() AND organization_id IS NOT DISTINCT FROM chain;
        UPDATE audit_chain_heads SET sequence = position, hash = last_hash
        WHERE organization_id = head;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER trg_audit_staging_seal AFTER INSERT ON audit_staging
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_seal();

-- Monthly partitions from this month to ``months_ahead`` months on; returns how many
-- it created. A month whose rows already sit in the default partition is left there.
CREATE FUNCTION codeant_audit_partitions(months_ahead INTEGER DEFAULT 12) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    month DATE := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    name TEXT;
    created INTEGER := 0;
BEGIN
    FOR i IN 0..months_ahead LOOP
        name := 'audit_log_' || to_char(month, 'YYYY_MM');
        IF to_regclass(name) IS NULL AND NOT EXISTS (
            SELECT 1 FROM audit_log_default
            WHERE occurred_at >= month AND occurred_at < month + interval '1 month'
        ) THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                name, month::timestamp AT TIME ZONE 'UTC',
                (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN created;
END;
$$;

DO $$ BEGIN PERFORM codeant_audit_partitions(); END $$;

-- ---------------------------------------------------------------- what is audited
CREATE TRIGGER trg_organizations_audit AFTER INSERT OR UPDATE OR DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_users_audit AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_organization_members_audit AFTER INSERT OR UPDATE OR DELETE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_projects_audit AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_repositories_audit AFTER INSERT OR UPDATE OR DELETE ON repositories
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_repository_branches_audit AFTER INSERT OR UPDATE OR DELETE ON repository_branches
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_analysis_jobs_audit AFTER INSERT OR UPDATE OR DELETE ON analysis_jobs
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_rules_audit AFTER INSERT OR UPDATE OR DELETE ON rules
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_project_rule_configs_audit AFTER INSERT OR UPDATE OR DELETE ON project_rule_configs
    FOR EACH ROW EXECUTE FUNCTION codeant_audit_row();
CREATE TRIGGER trg_file_index_audit_insert AFTER INSERT ON file_index
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('repository_id');
CREATE TRIGGER trg_file_index_audit_update AFTER UPDATE ON file_index
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('repository_id');
CREATE TRIGGER trg_file_index_audit_delete AFTER DELETE ON file_index
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('repository_id');
CREATE TRIGGER trg_file_history_audit_insert AFTER INSERT ON file_history
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_file_history_audit_update AFTER UPDATE ON file_history
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_file_history_audit_delete AFTER DELETE ON file_history
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_analysis_results_audit_insert AFTER INSERT ON analysis_results
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_analysis_results_audit_update AFTER UPDATE ON analysis_results
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_analysis_results_audit_delete AFTER DELETE ON analysis_results
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_code_metrics_audit_insert AFTER INSERT ON code_metrics
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_code_metrics_audit_update AFTER UPDATE ON code_metrics
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
CREATE TRIGGER trg_code_metrics_audit_delete AFTER DELETE ON code_metrics
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION codeant_audit_rows('job_id');
