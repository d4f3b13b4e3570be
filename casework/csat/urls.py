from django.urls import path

from . import views

app_name = "csat"

urlpatterns = [
    path("survey/<str:token>/rate/<int:score>/", views.rate, name="rate"),
    path("survey/<str:token>/", views.comment, name="comment"),
    path("reviews/", views.reviews, name="reviews"),
    path("reviews/<int:review_id>/close/", views.review_close, name="review_close"),
]
