from django.urls import path

from . import identity_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/signup/", identity_views.sign_up, name="signup"),
    path("accounts/claim/", identity_views.claim, name="claim"),
    path("accounts/login/sms/", identity_views.login_sms, name="login_sms"),
    path("points/history/", views.history, name="history"),
    path("me/notifications/", views.notifications, name="notifications"),
    path("me/notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("me/notifications/read-all/", views.notifications_read_all, name="notifications-read-all"),
]
