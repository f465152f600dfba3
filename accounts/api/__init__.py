"""HTTP API of the accounts app: registration, token login/logout and the caller's profile.

Mounted by the project at ``api/auth/`` (see ``accounts/api/urls.py``).
"""
