"""Lifecycle: the service that owns domains, units and accounts and keeps them in Redis."""
