-- The tenant policies call codeant_visible() again, as 0011 and 0012 wrote them.
DO $$
DECLARE
    policy TEXT[];
    visible TEXT;
BEGIN
    FOREACH policy SLICE 1 IN ARRAY ARRAY[
        ['organizations', 'id', 'ALL'],
        ['organization_members', 'organization_id', 'ALL'],
        ['projects', 'organization_id', 'ALL'],
        ['repositories', 'organization_id', 'ALL'],
        ['repository_branches', 'organization_id', 'ALL'],
        ['file_index', 'organization_id', 'ALL'],
        ['file_history', 'organization_id', 'ALL'],
        ['analysis_jobs', 'organization_id', 'ALL'],
        ['analysis_results', 'organization_id', 'ALL'],
        ['code_metrics', 'organization_id', 'ALL'],
        ['project_rule_configs', 'organization_id', 'ALL'],
        ['issues', 'organization_id', 'ALL'],
        ['issue_changes', 'organization_id', 'ALL'],
        ['new_code_periods', 'organization_id', 'ALL'],
        ['quality_gates', 'organization_id', 'ALL'],
        ['project_quality_gates', 'organization_id', 'ALL'],
        ['analysis_measures', 'organization_id', 'ALL'],
        ['live_measures', 'organization_id', 'ALL'],
        ['analysis_gates', 'organization_id', 'ALL'],
        ['audit_log', 'organization_id', 'SELECT'],
        ['audit_chain_heads',
         'NULLIF(organization_id, ''00000000-0000-0000-0000-000000000000''::uuid)', 'SELECT']
    ] LOOP
        visible := format('codeant_visible(%s)', policy[2]);
        IF policy[3] = 'ALL' THEN
            EXECUTE format('ALTER POLICY tenant ON %I USING (%s) WITH CHECK (%s)',
                           policy[1], visible, visible);
        ELSE
            EXECUTE format('ALTER POLICY tenant ON %I USING (%s)', policy[1], visible);
        END IF;
    END LOOP;
END;
$$;
