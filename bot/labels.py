"""Names of data fields as a parent reads them, in the current language."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from gettext import GNUTranslations

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from flows.audit import AuditAction
from flows.board import shown_count
from flows.notify import Notice
from storage.models import DEFAULT_CONSENT_CHANNELS, RequestKind


def per_language(build: Callable[[], dict[str, str]]) -> Callable[[], dict[str, str]]:
    """A table of labels built once per language rather than on every call: a screen
    of a child's data labels a field for every supplier, and translating a whole table
    for each label was a tenth of the bot's work on Mijn gegevens. `build` still
    translates with `_` in the reader's language, so the strings stay extractable."""

    @lru_cache(maxsize=8)
    def table(_catalog: GNUTranslations | None, _locale: str) -> dict[str, str]:
        return build()

    def current() -> dict[str, str]:
        i18n = I18n.get_current(no_error=False)
        locale = i18n.current_locale
        # Keyed by the catalog itself: a language without one shows the Dutch source.
        return table(i18n.locales.get(locale), locale)

    return current


@per_language
def _fields() -> dict[str, str]:
    return {
        "voornaam": _("voornaam"),
        "tussenvoegsel": _("tussenvoegsel"),
        "achternaam": _("achternaam"),
        "geboortedatum": _("geboortedatum"),
        "geslacht": _("geslacht"),
        "leerlingkey": _("leerlingnummer voor Basispoort (leerlingkey)"),
        "groepskey": _("groepsnummer voor Basispoort (groepskey)"),
        "groepsnaam": _("naam van de groep"),
        "jaargroep": _("jaargroep"),
        "basispoort_id": _("Basispoort-nummer"),
        "school_id": _("nummer van de school"),
    }


def field_label(name: str) -> str:
    return _fields().get(name, name)


def group_label(name: str, *, start: bool = False) -> str:
    """ "groep 5A"; a group the school named in full ("Groep 3", from EDEXML) as it is
    written, never "groep Groep 3". `start`: at the start of a sentence."""
    if _named_in_full(name):
        return name
    label = _("groep {name}").format(name=name)
    return label[:1].upper() + label[1:] if start else label


def groups_label(names: Sequence[str]) -> str:
    """ "groep 5A, 5B"; with a group named in full, each by its own label."""
    if any(_named_in_full(name) for name in names):
        return ", ".join(group_label(name) for name in names)
    return group_label(", ".join(names))


def _named_in_full(name: str) -> bool:
    return name.casefold().startswith(("groep", "group"))


@per_language
def _channels() -> dict[str, str]:
    return {
        "website": _("Website"),
        "nieuwsbrief": _("Nieuwsbrief"),
        "parro": _("Parro"),
    }


def channel_label(name: str) -> str:
    # A channel a school added in its settings is shown by its own name.
    return _channels().get(name, name.capitalize())


def kind_label(kind: str) -> str:
    # Each kind words itself in its own template; imported here, as render uses labels.
    from bot.render import kind_words

    return kind_words(str(kind), "label")


@per_language
def _statuses() -> dict[str, str]:
    return {
        "open": _("ontvangen, nog niet in behandeling"),
        "in_progress": _("in behandeling"),
        "waiting_approval": _("wacht op besluit van de directeur"),
        "resolved": _("afgehandeld"),
        "rejected": _("afgewezen"),
        "withdrawn": _("ingetrokken"),
    }


def status_label(status: str) -> str:
    return _statuses().get(status, status)


def ground_label(ground: str) -> str:
    labels = {
        "no_longer_needed": _("De gegevens zijn niet meer nodig"),
        "consent_withdrawn": _("De toestemming is ingetrokken"),
        "other": _("Andere reden"),
    }
    return labels.get(ground, ground)


def deletable_label(what: str) -> str:
    labels = {
        "beeldmateriaal": _("Foto's en video's van het kind"),
        "bijzonderheden": _("Notitie over gezondheid of leren"),
        "tussenvoegsel": _("Tussenvoegsel"),
        "anders": _("Iets anders (zelf omschrijven)"),
    }
    return labels.get(what) or field_label(what)


def role_label(role: str) -> str:
    if role == "board":
        return _("het bestuur")
    return _("de directeur") if role == "director" else _("de leerkracht")


def action_label(action: str) -> str:
    """What an audit event means, for the logboek and for a parent."""
    labels: dict[str, str] = {
        AuditAction.ACCOUNT_LINKED: _("account gekoppeld"),
        AuditAction.ACCOUNT_UNLINKED: _("account ontkoppeld"),
        AuditAction.BOARD_VIEW: _("cijfers bekeken door het bestuur"),
        AuditAction.CONSENT_GIVEN: _("toestemming gegeven"),
        AuditAction.CONSENT_WITHDRAWN: _("toestemming ingetrokken"),
        AuditAction.CONSENT_OVERVIEW_VIEWED: _("toestemmingen van de groep bekeken"),
        AuditAction.LOG_VIEWED: _("logboek bekeken"),
        AuditAction.NOTE_ERASED: _("notitie over gezondheid of leren gewist"),
        AuditAction.PARNASSYS_DONE: _("afgevinkt: gedaan door de school"),
        AuditAction.COPY_DOWNLOADED: _("kopie gedownload"),
        AuditAction.DELETION_APPROVED: _("verwijdering goedgekeurd"),
        AuditAction.DISCLOSURE_REGISTERED: _("verstrekking vastgelegd"),
        AuditAction.PUPIL_ERASED: _("gegevens van de leerling gewist"),
        AuditAction.REQUEST_CREATED: _("verzoek ingediend"),
        AuditAction.REQUEST_EXTENDED: _("termijn verlengd"),
        AuditAction.REQUEST_FORWARDED: _("doorgestuurd naar de directeur"),
        AuditAction.REQUEST_MESSAGE: _("bericht bij een verzoek"),
        AuditAction.REQUEST_PICKED_UP: _("verzoek opgepakt"),
        AuditAction.REQUEST_APPROVED: _("verzoek goedgekeurd door de directeur"),
        AuditAction.REQUEST_LIFTED: _("opgeheven door de directeur"),
        AuditAction.REQUEST_REJECTED: _("verzoek afgewezen"),
        AuditAction.REQUEST_REPLY: _("antwoord aan de ouder"),
        AuditAction.REQUEST_RESOLVED: _("verzoek afgehandeld"),
        AuditAction.REQUEST_VIEWED: _("gegevens bekeken"),
        AuditAction.REQUEST_WITHDRAWN: _("verzoek ingetrokken"),
    }
    return labels.get(action, action)


def notification_label(template: str) -> str:
    """What a queued notification was about, for the director's "Niet bezorgd"."""
    labels: dict[str, str] = {
        Notice.CONSENT_CHANGED_GUARDIAN: _("toestemming gewijzigd (aan de andere ouder)"),
        Notice.CONSENT_CHANGED_STAFF: _("toestemming gewijzigd (aan de leerkracht)"),
        Notice.CONSENT_YEARLY: _("jaarlijkse vraag over toestemming"),
        Notice.ERASURES_AHEAD: _("overzicht van gegevens die binnenkort gewist worden"),
        Notice.OVERDUE_SUMMARY: _("overzicht van te late verzoeken"),
        Notice.PHOTOS_ERASED_STAFF: _("niet meer op beeld (aan de leerkracht)"),
        Notice.PHOTOS_OBJECTION_STAFF: _("niet meer op beeld na bezwaar (aan de leerkracht)"),
        Notice.PUPIL_ERASED: _("gegevens van de leerling gewist"),
        Notice.REQUEST_DUE_SOON: _("herinnering: termijn loopt af"),
        Notice.REQUEST_EXTENDED: _("termijn verlengd"),
        Notice.REQUEST_LIFTED: _("opgeheven door de directeur"),
        Notice.REQUEST_MESSAGE: _("bericht bij een verzoek"),
        Notice.REQUEST_NEW: _("nieuw verzoek"),
        Notice.REQUEST_REJECTED: _("verzoek afgewezen"),
        Notice.REQUEST_REPLY: _("antwoord aan de ouder"),
        Notice.REQUEST_RESOLVED: _("verzoek afgehandeld"),
        Notice.REQUEST_WITHDRAWN: _("verzoek ingetrokken"),
    }
    return labels.get(template, template)


def undelivered_label(reason: str | None) -> str:
    """Why a notification did not arrive, in words the director can act on."""
    labels = {
        "render": _(
            "De bot kon dit bericht niet maken (een fout in de bot). "
            "Het wordt niet opnieuw geprobeerd."
        ),
        "rejected": _("Telegram weigerde dit bericht. Het wordt niet opnieuw geprobeerd."),
        "blocked": _("Deze persoon heeft de bot geblokkeerd of nooit gestart."),
        "recipient_gone": _(
            "Dit account is ontkoppeld of hoort niet meer bij dit kind. Er is niets verstuurd."
        ),
        "gave_up": _("Telegram was urenlang niet bereikbaar. Het bericht is opgegeven."),
        "nobody_linked": _(
            "Niemand gekoppeld: geen ouder van het kind gebruikt de bot, dus niemand kreeg "
            "bericht van het besluit. Laat het de ouders op een andere manier weten."
        ),
    }
    if reason is None:
        return _("Nog niet bezorgd; de bot probeert het opnieuw.")
    return labels.get(reason, reason)


def actor_label(kind: str) -> str:
    """Who did something in the logboek, when there is no name or next to it."""
    labels = {
        "teacher": _("leerkracht"),
        "director": _("directeur"),
        "staff": _("medewerker"),
        "guardian": _("ouder"),
        "system": _("de bot zelf"),
        "account": _("Telegram-account"),
    }
    return labels.get(kind, kind)


_TOKENS = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\S+)?|[a-z_]+|->")


def audit_detail(
    detail: str, long_date: Callable[[str], str], date_time: Callable[[str], str]
) -> str:
    """An audit event's detail as stored (codes, ISO dates) in the reader's words:
    "OL-2026-0001 question" becomes "OL-2026-0001 vraag", a timestamp a local date."""
    words: dict[str, str] = {
        **{k.value: kind_label(k).lower() for k in RequestKind},
        **{k: field_label(k) for k in (
            "voornaam", "tussenvoegsel", "achternaam", "geboortedatum", "geslacht"
        )},
        "beeldmateriaal": _("foto's en video's"),
        "bijzonderheden": _("notitie over gezondheid of leren"),
        "anders": _("iets anders"),
        "verwijderd": _("verwijderd"),
        **{k: channel_label(k) for k in DEFAULT_CONSENT_CHANNELS},
        "guardian": _("ouder"),
        "staff": _("medewerker"),
        "leeg": _("leeg"),
        "->": "→",
    }  # fmt: skip

    def word(match: re.Match[str]) -> str:
        token = match.group(0)
        if token[0].isdigit():
            return date_time(token) if "T" in token else long_date(token)
        return words.get(token, token)

    return _TOKENS.sub(word, detail)


def small_count(n: int) -> str:
    """A count on a board screen or in the report: 1 to 4 could point at one family."""
    return _("minder dan 5") if shown_count(n) is None else str(n)
