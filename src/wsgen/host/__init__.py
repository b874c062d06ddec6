"""Reading the host project: its files, its app, its configuration, and
importing it after an edit. Nothing here writes."""
