DROP TABLE file_index;
DROP TABLE repository_branches;
DROP TABLE repositories;
DROP TABLE projects;
