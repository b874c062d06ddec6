"""Rendering and planning: pure functions from what was asked and what the
host holds to the files and edits a run would make."""
