from django.urls import path

from . import editor_views, views

app_name = "triage"
urlpatterns = [
    path("rules/", editor_views.rules_list, name="rules"),
    path("rules/new/", editor_views.rule_edit, name="rule_new"),
    path("rules/<int:rule_id>/", editor_views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/toggle", editor_views.rule_toggle, name="rule_toggle"),
    path("rules/<int:rule_id>/move", editor_views.rule_reorder, name="rule_move"),
    path("rules/dry-run/", views.dry_run_view, name="dry_run"),
    path("needs-triage/", views.needs_triage_view, name="needs_triage"),
    path("needs-triage/<str:reference>/verdict", views.verdict_view, name="verdict"),
    path("corrections/", views.corrections_view, name="corrections"),
]
