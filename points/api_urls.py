from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from points import api

urlpatterns = [
    path("purchases", api.PurchaseView.as_view(), name="api-purchases"),
    path("refunds", api.RefundView.as_view(), name="api-refunds"),
    path("members", api.MemberEnrolView.as_view(), name="api-members"),
    path(
        "members/<str:member_no>/balance",
        api.MemberBalanceView.as_view(),
        name="api-member-balance",
    ),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
