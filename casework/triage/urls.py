from django.urls import path

from . import views

app_name = "triage"
urlpatterns = [path("rules/dry-run/", views.dry_run_view, name="dry_run")]
