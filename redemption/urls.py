from django.urls import path

from . import views

urlpatterns = [
    path("rewards/", views.reward_list, name="reward_list"),
    path("rewards/<int:pk>/", views.reward_detail, name="reward_detail"),
    path("rewards/<int:pk>/redeem/", views.reward_redeem_view, name="reward_redeem"),
    path("stores/", views.stores, name="stores"),
    path("me/redemptions/", views.my_redemptions, name="my_redemptions"),
    path("me/redemptions/<int:pk>/cancel/", views.redemption_cancel, name="redemption_cancel"),
]
