"""Tools for developers, tests and benchmarks (not used by the running app)."""
