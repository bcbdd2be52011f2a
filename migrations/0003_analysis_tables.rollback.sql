DROP TABLE code_metrics;
DROP TABLE analysis_results;
DROP TABLE analysis_jobs;
