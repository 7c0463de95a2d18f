"""The project's own PostgreSQL server, for the audit store's tests and benchmarks."""
