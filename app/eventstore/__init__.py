"""The event store: streams, versions and global positions (port, fake, PostgreSQL adapter)."""
