from django.urls import path

from . import views

app_name = "routing"
urlpatterns = [
    path("cases/<str:reference>/auto-assign", views.case_auto_assign, name="case_auto_assign"),
    path("me/availability/", views.my_availability, name="my_availability"),
]
