from django.contrib import admin
from django.urls import include, path

from points import views as points_views

urlpatterns = [
    path("healthz", points_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("points.api_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("points.urls")),
    path("", include("activities.urls")),
    path("", include("redemption.urls")),
    path("", include("reports.urls")),
]

handler403 = "points.views.permission_denied"
handler404 = "points.views.page_not_found"
handler500 = "points.views.server_error"
