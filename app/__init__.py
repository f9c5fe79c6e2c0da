"""CollabSpace API: a modular monolith (tenants, projects, tasks) over an event store."""
