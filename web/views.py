"""The server-rendered pages: login, logout, registration, the chat page and a shared conversation.

The chat page is a shell: its script talks to the JSON API under ``/api/chat/`` with the session
cookie and the CSRF token. Every page is sent with the project's strict Content-Security-Policy (no
inline script or style; ``CONTENT_SECURITY_POLICY`` in settings), so injected markup could not run.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import LoginView, LogoutView
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView, TemplateView
from pymongo.errors import PyMongoError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request

from accounts import services as accounts
from accounts.languages import from_accept_language
from accounts.throttling import LoginFailureThrottle, LoginThrottled
from chats import selectors as chat_selectors
from chats.exceptions import SessionNotFound, StoreUnavailable
from ehr import selectors as ehr_selectors
from web.forms import RegistrationForm

SIGN_IN_PARSERS = [FormParser(), MultiPartParser()]


class LoginPage(LoginView):
    """Django's login view behind the same failed-login budget as ``POST /api/auth/token``."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.failure_throttle = LoginFailureThrottle()
        if not self.failure_throttle.allow_request(Request(request, parsers=SIGN_IN_PARSERS), self):  # type: ignore[arg-type]
            form = self.get_form()
            form.add_error(None, str(LoginThrottled(self.failure_throttle.wait()).detail))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        self.failure_throttle.forgive()
        return super().form_valid(form)


class LogoutPage(LogoutView):
    """POST only (Django's rule): a link or an image cannot log anyone out."""


@method_decorator([sensitive_post_parameters("password", "password_confirm"), never_cache], name="dispatch")
class RegisterPage(FormView):
    """A new patient account (accounts.services.register_user), signed in straight away."""

    template_name = "registration/register.html"
    form_class = RegistrationForm
    success_url = reverse_lazy("web:chat")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            return redirect("web:chat")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: RegistrationForm) -> HttpResponse:
        try:
            user, _token = accounts.register_user(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                email=form.cleaned_data["email"],
                search_language=from_accept_language(self.request.headers.get("Accept-Language", "")),
            )
        except accounts.RegistrationRejected as rejected:
            for field, messages in rejected.errors.items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        return HttpResponseRedirect(self.get_success_url())


@method_decorator(never_cache, name="dispatch")
class ChatPage(LoginRequiredMixin, TemplateView):
    """The chat shell; web/static/web/chat.js fills it from the JSON API (session cookie + CSRF)."""

    template_name = "chat.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["max_message_chars"] = settings.CHAT_MAX_MESSAGE_CHARS
        return context


class ConversationPage(ChatPage):
    """``/c/<session_id>``: the chat shell opening that conversation; someone else's or an unknown
    id is a 404 that says nothing about it. While chat storage is down the shell is sent anyway and
    the page itself says the history is temporarily unavailable."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session_id = kwargs["session_id"]
        try:
            chat_selectors.get_session(user_id=int(request.user.pk), session_id=session_id)  # type: ignore[arg-type]
        except SessionNotFound as exc:
            raise Http404("Conversation not found.") from exc
        except (StoreUnavailable, PyMongoError):
            pass
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["session_id"] = kwargs["session_id"]
        return context


@method_decorator(never_cache, name="dispatch")
class SharedConversationPage(LoginRequiredMixin, TemplateView):
    """``/shared/<session_id>``: a conversation a patient shared with their care team, read-only,
    for a clinician assigned to that patient; anyone else gets a 404 that says nothing about it.
    The page is a shell: web/static/web/shared.js reads it through the audited clinician API."""

    template_name = "shared.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if ehr_selectors.share_for_clinician(clinician=request.user, session_id=kwargs["session_id"]) is None:
            raise Http404("Conversation not found.")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["session_id"] = kwargs["session_id"]
        return context
