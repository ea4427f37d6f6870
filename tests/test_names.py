"""One name per notification: every Notice has its template and its label."""

from __future__ import annotations

from pathlib import Path

from aiogram.utils.i18n import I18n

from bot.labels import action_label, notification_label
from flows.audit import AuditAction
from flows.notify import Notice

NOTIFY_TEMPLATES = Path(__file__).parent.parent / "bot" / "templates" / "notify"


def test_every_notice_has_a_template_and_every_template_a_notice() -> None:
    files = {p.stem for p in NOTIFY_TEMPLATES.glob("*.j2")}
    assert files == {n.value for n in Notice}


def test_every_notice_has_words_for_the_undelivered_list(i18n: I18n) -> None:
    with i18n.context(), i18n.use_locale("nl"):
        assert [n for n in Notice if notification_label(n) == n.value] == []


def test_audit_actions_keep_the_stored_strings(i18n: I18n) -> None:
    # The database holds these values: renaming a member is free, changing a value is not.
    assert AuditAction.REQUEST_VIEWED == "request_viewed"
    with i18n.context(), i18n.use_locale("nl"):
        assert action_label(AuditAction.REQUEST_VIEWED) == "gegevens bekeken"
