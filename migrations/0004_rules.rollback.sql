DROP TABLE project_rule_configs;
DROP TABLE rules;
