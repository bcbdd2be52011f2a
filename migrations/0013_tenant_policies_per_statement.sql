-- The tenant policies read the session's scope once per statement.
-- * 0011 and 0012 gave every tenant table the policy codeant_visible(organization_id),
--   which the planner inlines as current_setting('codeant.scope', true) = 'system' OR
--   organization_id = NULLIF(current_setting('codeant.organization_id', true), '')::uuid:
--   both settings looked up by name, and a uuid parsed from text, for every row a
--   statement reads or writes. With each setting in a sub-select, the planner computes
--   it once per statement (an initplan) and a row costs one comparison. The rows visible
--   and writable are the same: a statement sees one value of each setting either way.
-- * Only the policies' expressions change: no data moves.
-- depends: 0012_issue_tracking

DO $$
DECLARE
    policy TEXT[];
    visible TEXT;
BEGIN
    FOREACH policy SLICE 1 IN ARRAY ARRAY[
        -- table, the expression naming its organization, the commands the policy covers
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
        visible := format(
            '(SELECT current_setting(''codeant.scope'', true)) = ''system'''
            ' OR %s = (SELECT NULLIF(current_setting(''codeant.organization_id'', true),'
            ' '''')::uuid)',
            policy[2]);
        IF policy[3] = 'ALL' THEN
            EXECUTE format('ALTER POLICY tenant ON %I USING (%s) WITH CHECK (%s)',
                           policy[1], visible, visible);
        ELSE
            EXECUTE format('ALTER POLICY tenant ON %I USING (%s)', policy[1], visible);
        END IF;
    END LOOP;
END;
$$;
