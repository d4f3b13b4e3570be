from django.contrib import admin

from .models import Article, ArticleLink, Macro, ReplyDraft, SuggestionSession


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "visibility", "category", "owner", "review_at", "updated_at"]
    list_filter = ["status", "visibility", "category"]
    search_fields = ["title", "body"]
    readonly_fields = ["body_html", "plain", "keywords"]


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "internal", "set_status", "set_priority", "set_team", "active", "uses"]
    list_filter = ["active", "internal"]
    search_fields = ["name", "body"]


admin.site.register(ArticleLink)
admin.site.register(SuggestionSession)
admin.site.register(ReplyDraft)
