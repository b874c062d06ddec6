"""The commands behind the CLI: each reads the host, builds a plan and
applies it (or reports on it)."""
