"""Top-level URL configuration."""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from medibot.metrics import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and ReDoc from the installed sidecar package; the Swagger init script is a file of its
    # own (``?script``), so the one Content-Security-Policy needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # ReDoc styles itself at run time (styled-components): inline styles, never inline scripts, here only.
    path(
        "api/redoc/",
        csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularRedocView.as_view(url_name="schema")),
        name="redoc",
    ),
    path("api/auth/", include("accounts.api.urls")),
    path("api/ehr/", include("ehr.urls")),
    path("api/audit/", include("audit.urls")),
    path("", include("whatsapp.urls")),
    path("", include("chats.api.urls")),
    path("", include("web.urls")),
]

handler400 = "medibot.error_views.bad_request"
handler403 = "medibot.error_views.permission_denied"
handler404 = "medibot.error_views.page_not_found"
handler500 = "medibot.error_views.server_error"
