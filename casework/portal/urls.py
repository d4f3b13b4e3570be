from django.urls import path

from casework.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.case_list, name="cases"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("go/<str:token>/", views.follow, name="follow"),
    path("c/<str:public_token>/", views.case_detail, name="case"),
]
