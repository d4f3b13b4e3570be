from django.urls import path

from . import views

app_name = "privacy"
urlpatterns = [
    path("", views.page, name="page"),
    path("holds", views.hold, name="hold"),
    path("erase", views.erase, name="erase"),
    path("policies/new", views.policy_new, name="policy_new"),
    path("policies/<int:pk>/", views.policy_edit, name="policy_edit"),
]
