from django.urls import path

from . import views

app_name = "triage"
urlpatterns = [
    path("rules/dry-run/", views.dry_run_view, name="dry_run"),
    path("needs-triage/", views.needs_triage_view, name="needs_triage"),
    path("needs-triage/<str:reference>/verdict", views.verdict_view, name="verdict"),
    path("corrections/", views.corrections_view, name="corrections"),
]
