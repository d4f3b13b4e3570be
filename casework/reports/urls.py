from django.urls import path

from . import views

app_name = "reports"
urlpatterns = [
    path("reports/dashboard/", views.dashboard, name="dashboard"),
    path("reports/", views.report, name="report"),
    path("reports/cases/", views.cases, name="cases"),
    path("reports/saved/", views.save_report, name="save"),
    path("reports/saved/<int:pk>/", views.open_saved, name="saved"),
    path("reports/saved/<int:pk>/delete", views.delete_saved, name="delete_saved"),
    path("reports/subscriptions/", views.subscribe, name="subscribe"),
    path("reports/<slug:name>.csv", views.export_csv, name="csv"),
    path("reports/charts.css", views.chart_css, name="chart_css"),
]
