-- Rows are visible to every session again. The role codeant_app stays (roles belong to
-- the server, and other databases may use it); it loses its rights in this database.
ALTER FUNCTION codeant_audit_row() SECURITY INVOKER RESET search_path;
ALTER FUNCTION codeant_audit_rows() SECURITY INVOKER RESET search_path;
ALTER FUNCTION codeant_audit_seal() SECURITY INVOKER RESET search_path;

DROP POLICY tenant ON audit_chain_heads;
ALTER TABLE audit_chain_heads DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant ON audit_log;
ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY;

DROP POLICY tenant ON organizations;
DROP POLICY tenant ON organization_members;
DROP POLICY tenant ON projects;
DROP POLICY tenant ON repositories;
DROP POLICY tenant ON repository_branches;
DROP POLICY tenant ON file_index;
DROP POLICY tenant ON file_history;
DROP POLICY tenant ON analysis_jobs;
DROP POLICY tenant ON analysis_results;
DROP POLICY tenant ON code_metrics;
DROP POLICY tenant ON project_rule_configs;
ALTER TABLE organizations NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE organization_members NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE projects NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE repositories NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE repository_branches NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE file_index NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE file_history NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE analysis_jobs NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE analysis_results NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE code_metrics NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE project_rule_configs NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
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
