CREATE INDEX idx_file_index_words
ON file_index USING GIN(to_tsvector('english',
    translate(relative_path, '/._-', '    ') || ' ' || COALESCE(metadata->>'description', '')));

DROP INDEX idx_file_index_search_vector;

ALTER TABLE file_index DROP COLUMN search_vector;
