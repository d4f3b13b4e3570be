from django.urls import path

from . import views

app_name = "knowledge"
urlpatterns = [
    path("", views.article_list, name="list"),
    path("new/", views.article_new, name="new"),
    path("<int:pk>/", views.article_detail, name="detail"),
    path("<int:pk>/edit/", views.article_edit, name="edit"),
    path("from-case/<str:reference>/", views.article_from_case, name="from_case"),
    path("cases/<str:reference>/link/<int:pk>/", views.article_link, name="link"),
    path("cases/<str:reference>/macros/<int:pk>/", views.macro_preview, name="macro_preview"),
    path("cases/<str:reference>/draft/", views.draft_propose, name="draft_propose"),
    path("drafts/<int:pk>/", views.draft_show, name="draft_show"),
    path("drafts/<int:pk>/discard/", views.draft_discard, name="draft_discard"),
    # Customer side (no sign-in): public articles, their search, suggestions while typing.
    path("suggestions/", views.suggestions, name="suggestions"),
    path("help/", views.public_search, name="public_search"),
    path("a/<str:slug>/", views.public_article, name="public_article"),
]
