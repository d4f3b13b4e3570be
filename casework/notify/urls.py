from django.urls import path

from . import views

app_name = "notify"
urlpatterns = [
    path("", views.notification_list, name="list"),
    path("read-all", views.notification_mark_all_read, name="read_all"),
    path("digest", views.digest_preference, name="digest"),
    path("<int:pk>/open", views.notification_open, name="open"),
    path("<int:pk>/read", views.notification_mark_read, name="read"),
]
