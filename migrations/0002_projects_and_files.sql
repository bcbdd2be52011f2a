-- Projects, their git repositories, branches and the file index (seed 000, 3.2.1-3.2.2).
-- projects also get deleted_at: deleting a project is a soft delete, as for organizations.
-- depends: 0001_core_tables

CREATE TABLE projects (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    slug VARCHAR(100) NOT NULL,
    description TEXT,
    repository_url TEXT NOT NULL,
    repository_type VARCHAR(20) NOT NULL DEFAULT 'git',
    default_branch VARCHAR(100) NOT NULL DEFAULT 'main',
    visibility VARCHAR(20) NOT NULL DEFAULT 'private',
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    settings JSONB NOT NULL DEFAULT '{}',
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    last_analyzed_at TIMESTAMP WITH TIME ZONE,
    deleted_at TIMESTAMP WITH TIME ZONE,

    UNIQUE(organization_id, slug)
);

CREATE INDEX idx_projects_org_id ON projects(organization_id);
CREATE INDEX idx_projects_status ON projects(status);
CREATE INDEX idx_projects_last_analyzed ON projects(last_analyzed_at);
CREATE INDEX idx_projects_repo_url ON projects USING HASH(repository_url);

CREATE TABLE repositories (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    local_path TEXT NOT NULL,
    remote_url TEXT NOT NULL,
    current_commit VARCHAR(40),
    default_branch VARCHAR(100) NOT NULL,
    size_bytes BIGINT NOT NULL DEFAULT 0,
    file_count INTEGER NOT NULL DEFAULT 0,
    last_sync_at TIMESTAMP WITH TIME ZONE,
    sync_status VARCHAR(20) NOT NULL DEFAULT 'pending',
    sync_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_repositories_project_id ON repositories(project_id);
CREATE INDEX idx_repositories_sync_status ON repositories(sync_status);
CREATE INDEX idx_repositories_last_sync ON repositories(last_sync_at);

CREATE TABLE repository_branches (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repository_id UUID NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    commit_hash VARCHAR(40) NOT NULL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    is_protected BOOLEAN NOT NULL DEFAULT FALSE,
    last_commit_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),

    UNIQUE(repository_id, name)
);

CREATE INDEX idx_repo_branches_repo_id ON repository_branches(repository_id);
CREATE INDEX idx_repo_branches_default ON repository_branches(is_default) WHERE is_default = TRUE;

CREATE TABLE file_index (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repository_id UUID NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    relative_path TEXT NOT NULL,
    absolute_path TEXT NOT NULL,
    language VARCHAR(50),
    size_bytes BIGINT NOT NULL,
    line_count INTEGER NOT NULL DEFAULT 0,
    file_hash VARCHAR(64) NOT NULL,
    content_hash VARCHAR(64), -- Hash of normalized content
    last_modified TIMESTAMP WITH TIME ZONE NOT NULL,
    analysis_status VARCHAR(20) NOT NULL DEFAULT 'pending',
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),

    UNIQUE(repository_id, relative_path)
);

CREATE INDEX idx_file_index_repo_id ON file_index(repository_id);
CREATE INDEX idx_file_index_language ON file_index(language);
CREATE INDEX idx_file_index_analysis_status ON file_index(analysis_status);
CREATE INDEX idx_file_index_hash ON file_index(file_hash);

CREATE TRIGGER trg_projects_updated_at BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION codeant_touch_updated_at();
CREATE TRIGGER trg_repositories_updated_at BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION codeant_touch_updated_at();
CREATE TRIGGER trg_file_index_updated_at BEFORE UPDATE ON file_index
    FOR EACH ROW EXECUTE FUNCTION codeant_touch_updated_at();
