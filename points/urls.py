from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/signup/", views.sign_up, name="signup"),
    path("points/history/", views.history, name="history"),
    path("me/notifications/", views.notifications, name="notifications"),
    path("me/notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("me/notifications/read-all/", views.notifications_read_all, name="notifications-read-all"),
]
