from django.urls import path

from casework.portal import views, webform

app_name = "portal"

urlpatterns = [
    path("", views.case_list, name="cases"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-in/again/", views.resend, name="resend"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("go/<str:token>/", views.follow, name="follow"),
    path("c/<str:public_token>/", views.case_detail, name="case"),
    path("c/<str:public_token>/reply/", views.case_reply, name="case_reply"),
    path("c/<str:public_token>/close/", views.case_close, name="case_close"),
    path("c/<str:public_token>/reopen/", views.case_reopen, name="case_reopen"),
    path("c/<str:public_token>/files/<int:attachment_id>/", views.attachment_download, name="attachment"),
    path("new/", webform.new_request, name="new"),
    path("new/suggestions/", webform.suggestions, name="suggestions"),
    path("new/sent/<str:sent>/", webform.new_request_sent, name="new_sent"),
]
