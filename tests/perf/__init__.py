"""The benchmark of the persistence layer against seed 000's performance targets (section
3.13), with peers measured in the same run: ``python -m tests.perf`` (see
docs/benchmarks.md). Not collected as timed tests: ``test_perf_smoke`` only runs it tiny."""
