from django.urls import path

from . import views

app_name = "insights"
urlpatterns = [
    path("problems/", views.problems, name="problems"),
    path("problems/new/", views.problem_new, name="problem_new"),
    path("problems/<int:pk>/", views.problem_detail, name="problem"),
    path("problems/<int:pk>/edit/", views.problem_edit, name="problem_edit"),
    path("problems/<int:pk>/link/", views.problem_link, name="problem_link"),
    path("problems/<int:pk>/reject/<str:reference>/", views.problem_reject, name="problem_reject"),
    path("insights/findings/", views.findings, name="findings"),
    path("insights/gaps/<int:pk>/dismiss/", views.gap_dismiss, name="gap_dismiss"),
    path("insights/gaps/<int:pk>/draft/", views.gap_draft, name="gap_draft"),
    path("duplicates/<int:pk>/merge/", views.duplicate_merge, name="duplicate_merge"),
    path("duplicates/<int:pk>/dismiss/", views.duplicate_dismiss, name="duplicate_dismiss"),
    path("engineering-links/new/", views.link_new, name="link_new"),
    path("engineering-links/<int:pk>/", views.link_detail, name="link"),
    path("engineering-links/<int:pk>/resolve/", views.link_resolve, name="link_resolve"),
    # Inbound, signed with each system's own secret (no session, no agent token).
    path("integrations/github/webhook/", views.github_webhook, name="github_webhook"),
    path("integrations/jira/webhook/", views.jira_webhook, name="jira_webhook"),
]
