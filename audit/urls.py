"""Audit API routes."""

from django.urls import path

from audit.api import views

urlpatterns = [
    path("me", views.MyAccessLogApi.as_view(), name="audit-me"),
]
