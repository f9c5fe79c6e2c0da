"""Tenants, users, roles and authentication (access tokens and realtime tickets)."""
