-- The rule catalogue and per-project rule configuration (seed 000, section 3.2.4).
-- depends: 0003_analysis_tables

CREATE TABLE rules (
    id VARCHAR(100) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    description TEXT NOT NULL,
    category VARCHAR(50) NOT NULL,
    severity VARCHAR(20) NOT NULL DEFAULT 'medium',
    languages TEXT[] NOT NULL,
    rule_type VARCHAR(50) NOT NULL, -- 'static', 'ai', 'custom'
    implementation JSONB NOT NULL,
    examples JSONB,
    documentation_url TEXT,
    is_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    is_builtin BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    version VARCHAR(20) NOT NULL DEFAULT '1.0.0'
);

CREATE INDEX idx_rules_category ON rules(category);
CREATE INDEX idx_rules_severity ON rules(severity);
CREATE INDEX idx_rules_languages ON rules USING GIN(languages);
CREATE INDEX idx_rules_enabled ON rules(is_enabled) WHERE is_enabled = TRUE;
CREATE INDEX idx_rules_type ON rules(rule_type);

CREATE TABLE project_rule_configs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    rule_id VARCHAR(100) NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
    is_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    severity_override VARCHAR(20),
    config_override JSONB,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),

    UNIQUE(project_id, rule_id)
);

CREATE INDEX idx_project_rules_project_id ON project_rule_configs(project_id);
CREATE INDEX idx_project_rules_enabled ON project_rule_configs(is_enabled) WHERE is_enabled = TRUE;

CREATE TRIGGER trg_rules_updated_at BEFORE UPDATE ON rules
    FOR EACH ROW EXECUTE FUNCTION codeant_touch_updated_at();
CREATE TRIGGER trg_project_rule_configs_updated_at BEFORE UPDATE ON project_rule_configs
    FOR EACH ROW EXECUTE FUNCTION codeant_touch_updated_at();
