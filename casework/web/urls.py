from django.contrib.auth import views as auth_views
from django.urls import path

from . import account_views, people_views, queue_views, views

app_name = "web"
urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("me/tokens/", account_views.api_tokens, name="api_tokens"),
    path("me/tasks/", queue_views.my_tasks, name="my_tasks"),
    path("me/tokens/<int:token_id>/revoke", account_views.api_token_revoke, name="api_token_revoke"),
    path("", queue_views.queue, name="queue"),
    path("cases/new/", people_views.case_new, name="case_new"),
    path("cases/bulk", queue_views.cases_bulk, name="cases_bulk"),
    path("views/", queue_views.saved_view_create, name="saved_view_create"),
    path("views/<int:view_id>/delete", queue_views.saved_view_delete, name="saved_view_delete"),
    path("calls/new/", people_views.call_new, name="call_new"),
    path("cases/<str:reference>/", views.case_detail, name="case"),
    path("cases/<str:reference>/reply", views.case_reply, name="case_reply"),
    path("cases/<str:reference>/transition", views.case_transition, name="case_transition"),
    path("cases/<str:reference>/reopen", views.case_reopen, name="case_reopen"),
    path("cases/<str:reference>/fields", views.case_fields, name="case_fields"),
    path("cases/<str:reference>/take", views.case_take, name="case_take"),
    path("cases/<str:reference>/custom-fields", views.case_custom_fields, name="case_custom_fields"),
    path("cases/<str:reference>/escalate", views.case_escalate, name="case_escalate"),
    path("cases/<str:reference>/tags", views.case_tags, name="case_tags"),
    path("cases/<str:reference>/sentiment", views.case_sentiment, name="case_sentiment"),
    path("cases/<str:reference>/merge", views.case_merge, name="case_merge"),
    path("cases/<str:reference>/tasks", views.case_add_task, name="case_add_task"),
    path("cases/<str:reference>/tasks/<int:task_id>/toggle", views.task_toggle, name="task_toggle"),
    path("cases/<str:reference>/attachments", views.case_upload, name="case_upload"),
    path(
        "cases/<str:reference>/attachments/<int:attachment_id>",
        views.attachment_download,
        name="attachment_download",
    ),
    path("cases/<str:reference>/messages/<int:message_id>/split", views.message_split, name="message_split"),
    path("cases/<str:reference>/messages/<int:message_id>/move", views.message_move, name="message_move"),
    path("customers/<int:customer_id>/", people_views.customer_detail, name="customer"),
    path("customers/<int:customer_id>/edit", people_views.customer_edit, name="customer_edit"),
    path("organisations/<int:organisation_id>/", people_views.organisation_detail, name="organisation"),
]
