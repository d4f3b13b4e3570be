from django.contrib import admin
from django.urls import include, path

from casework.api.main import api

admin.site.site_header = "casework administration"
admin.site.site_title = "casework admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("portal/", include("casework.portal.urls")),
    path("csat/", include("casework.csat.urls")),
    path("triage/", include("casework.triage.urls")),
    path("notifications/", include("casework.notify.urls")),
    path("kb/", include("casework.knowledge.urls")),
    path("privacy/", include("casework.privacy.urls")),
    path("", include("casework.insights.urls")),
    path("", include("casework.routing.urls")),
    path("", include("casework.reports.urls")),
    path("", include("casework.web.urls")),
]
