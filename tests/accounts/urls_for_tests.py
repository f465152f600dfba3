"""URLconf for the accounts tests: the accounts API where the project mounts it, ``api/auth/``."""

from django.urls import include, path

urlpatterns = [
    path("api/auth/", include("accounts.api.urls")),
]
