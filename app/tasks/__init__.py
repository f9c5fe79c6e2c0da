"""Tasks: created in a project, edited, assigned to project members, moved, archived."""
