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
    path("", include("whatsapp.urls")),
    path("", include("chats.api.urls")),
    path("", include("web.urls")),
]
