-- Rows are visible to every session again. The role codeant_app stays (roles belong to
-- the server, and other databases may use it); it loses its rights in this database.
ALTER FUNCTION codeant_audit_row() SECURITY INVOKER RESET search_path;
ALTER FUNCTION codeant_audit_rows() SECURITY INVOKER RESET search_path;
ALTER FUNCTION codeant_audit_seal() SECURITY INVOKER RESET search_path;

DROP POLICY tenant ON audit_chain_heads;
ALTER TABLE audit_chain_heads DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant ON audit_log;
ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY;

DO $$
DECLARE
    tenant_table TEXT;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY[
        'organizations', 'organization_members', 'projects', 'repositories',
        'repository_branches', 'file_index', 'file_history', 'analysis_jobs',
        'analysis_results', 'code_metrics', 'project_rule_configs'
    ] LOOP
        EXECUTE format('DROP POLICY tenant ON %I', tenant_table);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY,'
                       ' DISABLE ROW LEVEL SECURITY', tenant_table);
    END LOOP;
END;
$$;
DROP FUNCTION codeant_visible(UUID);

DO $$
DECLARE
    vector_table TEXT;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'codeant_vectors') THEN
        EXECUTE format('ALTER SCHEMA codeant_vectors OWNER TO %I', current_user);
        FOR vector_table IN
            SELECT tablename FROM pg_tables WHERE schemaname = 'codeant_vectors'
        LOOP
            EXECUTE format('ALTER TABLE codeant_vectors.%I OWNER TO %I', vector_table,
                           current_user);
        END LOOP;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'codeant_app') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM codeant_app;
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM codeant_app;
        REVOKE ALL ON SCHEMA public FROM codeant_app;
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM codeant_app', current_database());
    END IF;
END;
$$;
