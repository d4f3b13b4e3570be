from django.urls import path

from . import views

app_name = "privacy"
urlpatterns = [
    path("", views.page, name="page"),
    path("holds", views.hold, name="hold"),
    path("erase", views.erase, name="erase"),
]
