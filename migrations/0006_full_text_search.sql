-- Full-text search (seed 000, sections 3.2.2 and 3.9.1). The seed's expressions index a
-- path as one token; the *_words indexes split paths and slugs into words, and are the
-- ones the search queries use (they must repeat these expressions exactly).
-- depends: 0005_query_indexes

CREATE INDEX idx_file_index_path_gin ON file_index USING GIN(to_tsvector('english', relative_path));

CREATE INDEX idx_file_index_fulltext
ON file_index USING GIN(to_tsvector('english', relative_path || ' ' || COALESCE(metadata->>'description', '')));

CREATE INDEX idx_file_index_words
ON file_index USING GIN(to_tsvector('english',
    translate(relative_path, '/._-', '    ') || ' ' || COALESCE(metadata->>'description', '')));

CREATE INDEX idx_projects_words
ON projects USING GIN(to_tsvector('english',
    name || ' ' || translate(slug, '-', ' ') || ' ' || COALESCE(description, '')))
WHERE deleted_at IS NULL;
