DROP INDEX idx_projects_words;
DROP INDEX idx_file_index_words;
DROP INDEX idx_file_index_fulltext;
DROP INDEX idx_file_index_path_gin;
