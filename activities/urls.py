from django.urls import path

from . import views

urlpatterns = [
    path("activities/", views.activity_list, name="activity_list"),
    path("activities/<int:pk>/check-in/", views.activity_check_in_page, name="activity_check_in"),
    path("activities/<int:pk>/code/", views.activity_code, name="activity_code"),
    path("activities/<int:pk>/attendance/", views.activity_attendance, name="activity_attendance"),
]
