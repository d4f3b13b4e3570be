"""The engine's configuration (kinds, templates, team Slack channels), read once per configuration
version (`core/config.py`: triggers on these tables move the version, so an admin's edit is seen by
every process at once). Missing rows fall back to the shipped defaults in kinds.py."""

from __future__ import annotations

from dataclasses import dataclass

from casework.core import config

from .kinds import DEFAULTS, KindDefault


@dataclass(frozen=True)
class KindConfig:
    key: str
    label: str
    audience: str
    enabled: bool
    essential: bool
    channels: tuple[str, ...]
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class TemplateText:
    subject: str
    body: str


class NotifyConfig:
    def __init__(
        self, kinds: dict[str, KindConfig], templates: dict[tuple[str, str, str], TemplateText], slack
    ):
        self.kinds = kinds
        self.templates = templates
        self.slack = slack

    def kind(self, key: str) -> KindConfig:
        if key in self.kinds:
            return self.kinds[key]
        default = DEFAULTS.get(key)
        if default is None:
            raise KeyError(f"unknown notification kind {key!r} (kinds.py lists the shipped ones)")
        return _from_default(default)

    def template(self, kind: str, channel: str, language: str, *, exact: bool = False) -> TemplateText | None:
        """The kind's template for this channel and language; else the default language; else the email
        template (Slack and in-app reuse its subject and body); else the shipped default."""
        tries = (
            [(kind, channel, language)]
            if exact
            else [
                (kind, channel, language),
                (kind, channel, ""),
                (kind, "email", language),
                (kind, "email", ""),
            ]
        )
        for key in tries:
            if key in self.templates:
                return self.templates[key]
        return None if exact else self.shipped_template(kind)

    def shipped_template(self, kind: str) -> TemplateText:
        default = DEFAULTS.get(kind)
        if default is None:
            return TemplateText(subject="{{ case.reference }} {{ case.subject }}", body="{{ case.url }}")
        return TemplateText(subject=default.subject, body=default.body)

    def slack_webhook(self, team_id: int) -> str:
        return self.slack.get(team_id, "")


def _from_default(d: KindDefault) -> KindConfig:
    return KindConfig(d.key, d.label, d.audience, True, d.essential, d.channels, d.recipients)


def _load() -> NotifyConfig:
    from .models import NotificationKind, NotificationTemplate, TeamChannel

    kinds = {
        k.key: KindConfig(
            k.key,
            k.label,
            k.audience,
            k.enabled,
            k.essential,
            tuple(k.channels or ()),
            tuple(k.recipients or ()),
        )
        for k in NotificationKind.objects.all()
    }
    templates = {
        (t.kind.key, t.channel, t.language.lower()): TemplateText(t.subject, t.body)
        for t in NotificationTemplate.objects.select_related("kind")
    }
    slack = {
        c.team_id: c.slack_webhook_url
        for c in TeamChannel.objects.filter(enabled=True).exclude(slack_webhook_url="")
    }
    return NotifyConfig(kinds, templates, slack)


def notify_config() -> NotifyConfig:
    return config.cached("notify-config", _load)
