-- File search ranks on a stored tsvector instead of parsing every matching row again:
-- the document of idx_file_index_words becomes a generated column with its own GIN index.
-- depends: 0007_outbox

ALTER TABLE file_index ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('english',
        translate(relative_path, '/._-', '    ') || ' ' || COALESCE(metadata->>'description', ''))
) STORED;

CREATE INDEX idx_file_index_search_vector ON file_index USING GIN(search_vector);

DROP INDEX idx_file_index_words;
