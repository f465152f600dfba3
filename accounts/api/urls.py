"""Routes of the accounts API; the project mounts them at ``api/auth/`` (namespace ``accounts``)."""

from __future__ import annotations

from django.urls import path

from accounts.api import deletion_views, views

app_name = "accounts"

urlpatterns = [
    path("register", views.RegisterApi.as_view(), name="register"),
    path("token", views.ObtainTokenApi.as_view(), name="token"),
    path("logout", views.LogoutApi.as_view(), name="logout"),
    path("me", views.MeApi.as_view(), name="me"),
    path("account/delete", deletion_views.DeleteAccountApi.as_view(), name="account-delete"),
]
