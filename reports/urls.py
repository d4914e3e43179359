from django.urls import path

from . import views, views_risk

app_name = "reports"

urlpatterns = [
    path("reports/green/", views.green_list, name="green_list"),
    path("reports/green/<int:pk>/download/", views.green_download, name="green_download"),
    path("staff/", views.staff_index, name="staff_index"),
    path("staff/communities/", views.community_list, name="community_list"),
    path("staff/communities/<int:pk>/", views.community_report, name="community_report"),
    path("staff/merchant/analytics/", views.merchant_analytics, name="merchant_analytics"),
    path("staff/settlement/", views.settlement, name="settlement"),
    path("staff/audit/", views.audit, name="audit"),
    path("staff/audit/export/", views.audit_export_view, name="audit_export"),
    path("staff/integrity/", views.integrity, name="integrity"),
    path("staff/integrity/run/", views.integrity_run, name="integrity_run"),
    path("staff/integrity/seal/", views.integrity_seal, name="integrity_seal"),
    path("staff/risk/", views_risk.risk, name="risk"),
    path(
        "staff/merchant/settlement/",
        views_risk.merchant_settlement,
        name="merchant_settlement",
    ),
]
