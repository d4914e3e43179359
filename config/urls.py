from django.contrib import admin
from django.urls import include, path

from config import views as site_views
from points import views as points_views

urlpatterns = [
    path("healthz", site_views.healthz, name="healthz"),
    # The language switch also remembers the member's choice for the messages sent to them.
    path("i18n/setlang/", points_views.set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("points.api_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("points.urls")),
    path("", include("activities.urls")),
    path("", include("redemption.urls")),
    path("", include("reports.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
