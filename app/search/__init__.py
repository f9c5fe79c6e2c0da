"""The search context: full-text search over the projects and tasks a user may read."""
