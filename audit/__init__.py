"""Append-only, tamper-evident audit trail of access to other people's data."""
