"""Routes of the web pages; the project mounts them at the root, after the API routes."""

from __future__ import annotations

from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("", views.ChatPage.as_view(), name="chat"),
    path("c/<str:session_id>", views.ConversationPage.as_view(), name="conversation"),
    path("shared/<str:session_id>", views.SharedConversationPage.as_view(), name="shared-conversation"),
    path("login/", views.LoginPage.as_view(), name="login"),
    path("logout/", views.LogoutPage.as_view(), name="logout"),
    path("register/", views.RegisterPage.as_view(), name="register"),
]
