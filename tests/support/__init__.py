"""Test helpers shared across the project's test suites (model server, bridge process)."""
