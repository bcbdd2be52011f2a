-- Tenancy in the database: each organization's rows are visible only to units of work
-- opened for it.
-- * The application works as the role codeant_app: neither owner nor superuser, without
--   BYPASSRLS, allowed to read and write the data but not to change the schema or the
--   audit trail. The role is created here if missing and this user may create roles
--   (roles belong to the server, so it stays when this migration is rolled back), and
--   granted to the migrating user, who switches to it (SET ROLE) on the application's
--   connections.
-- * Row-level security is enabled and forced on every table whose rows belong to an
--   organization; a row is visible, and may be written, when its organization_id is the
--   session's codeant.organization_id, or in the explicit system scope
--   (codeant.scope = 'system') of cross-organization work.
-- * The audit trail's triggers run as the owner (SECURITY DEFINER), so the application
--   role can read the trail of its organization but never write or change it.
-- * Later migrations that read or write tenant rows start with
--   SET LOCAL codeant.scope = 'system' (the policies apply to a non-superuser owner too).
-- depends: 0010_audit_trail

DO $$
DECLARE
    may_create BOOLEAN;
    vector_table TEXT;
BEGIN
    SELECT rolsuper OR rolcreaterole INTO may_create FROM pg_roles WHERE rolname = current_user;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'codeant_app') THEN
        IF may_create THEN
            CREATE ROLE codeant_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        ELSE
            -- the policies below still hold (forced, on the owner too); the application
            -- is told at connection what to do about its role
            RAISE NOTICE 'role codeant_app is missing and % may not create it', current_user;
            RETURN;
        END IF;
    END IF;
    IF NOT pg_has_role(current_user, 'codeant_app', 'MEMBER') THEN
        EXECUTE format('GRANT codeant_app TO %I', current_user);
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO codeant_app',
                   current_database());
    GRANT USAGE ON SCHEMA public TO codeant_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON
        organizations, users, organization_members, projects, repositories,
        repository_branches, file_index, file_history, analysis_jobs, analysis_results,
        code_metrics, rules, project_rule_configs, outbox_events
    TO codeant_app;
    GRANT SELECT ON audit_log, audit_chain_heads TO codeant_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO codeant_app;
    -- the vector store's own tables (no tenant rows: each point names its organization)
    -- belong to the application, which creates them and rebuilds their indexes
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'codeant_vectors') THEN
        ALTER SCHEMA codeant_vectors OWNER TO codeant_app;
        FOR vector_table IN
            SELECT tablename FROM pg_tables WHERE schemaname = 'codeant_vectors'
        LOOP
            EXECUTE format('ALTER TABLE codeant_vectors.%I OWNER TO codeant_app', vector_table);
        END LOOP;
    END IF;
END;
$$;

-- pgvector, where the server has it and this user may create it, so that the
-- application role need not
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')
       AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        BEGIN
            CREATE EXTENSION vector;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pgvector is available but % may not create it', current_user;
        END;
    END IF;
END;
$$;

-- whether a row of ``organization`` is visible to the session
CREATE FUNCTION codeant_visible(organization UUID) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT current_setting('codeant.scope', true) = 'system'
        OR organization = NULLIF(current_setting('codeant.organization_id', true), '')::uuid
$$;

-- the same forced policy on every tenant table (organizations are their own tenant)
DO $$
DECLARE
    tenant_table TEXT;
    tenant_column TEXT;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY[
        'organizations', 'organization_members', 'projects', 'repositories',
        'repository_branches', 'file_index', 'file_history', 'analysis_jobs',
        'analysis_results', 'code_metrics', 'project_rule_configs'
    ] LOOP
        tenant_column := CASE tenant_table WHEN 'organizations' THEN 'id'
                                           ELSE 'organization_id' END;
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format(
            'CREATE POLICY tenant ON %I USING (codeant_visible(%I))'
            ' WITH CHECK (codeant_visible(%I))',
            tenant_table, tenant_column, tenant_column);
    END LOOP;
END;
$$;

-- The trail: read within the organization (entries of no organization in the system
-- scope only); written only by the owner's triggers, so not forced on the owner.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_log FOR SELECT USING (codeant_visible(organization_id));
ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_chain_heads FOR SELECT
    USING (codeant_visible(NULLIF(organization_id, '00000000-0000-0000-0000-000000000000')));

ALTER FUNCTION codeant_audit_row() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION codeant_audit_rows() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION codeant_audit_seal() SECURITY DEFINER SET search_path FROM CURRENT;
