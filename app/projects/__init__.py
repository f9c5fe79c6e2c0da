"""Projects: the aggregate with status transitions, budget rules and members."""
