"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/auth/", include("accounts.api.urls")),
    path("api/ehr/", include("ehr.urls")),
    path("api/audit/", include("audit.urls")),
    path("", include("chats.api.urls")),
    path("", include("web.urls")),
]

handler400 = "medibot.error_views.bad_request"
handler403 = "medibot.error_views.permission_denied"
handler404 = "medibot.error_views.page_not_found"
handler500 = "medibot.error_views.server_error"
