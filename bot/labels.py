"""Names of data fields as a parent reads them, in the current language."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiogram.utils.i18n import gettext as _

from storage.models import RequestKind


def field_label(name: str) -> str:
    # Built per call so each label is translated in the reader's language.
    labels = {
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
    return labels.get(name, name)


def channel_label(name: str) -> str:
    labels = {
        "website": _("Website"),
        "nieuwsbrief": _("Nieuwsbrief"),
        "parro": _("Parro"),
    }
    # A channel a school added in its settings is shown by its own name.
    return labels.get(name, name.capitalize())


def kind_label(kind: str) -> str:
    # Each kind words itself in its own template; imported here, as render uses labels.
    from bot.render import kind_words

    return kind_words(str(kind), "label")


def status_label(status: str) -> str:
    labels = {
        "open": _("ontvangen, nog niet in behandeling"),
        "in_progress": _("in behandeling"),
        "waiting_approval": _("wacht op besluit van de directeur"),
        "resolved": _("afgehandeld"),
        "rejected": _("afgewezen"),
        "withdrawn": _("ingetrokken"),
    }
    return labels.get(status, status)


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
    labels = {
        "account_linked": _("account gekoppeld"),
        "account_unlinked": _("account ontkoppeld"),
        "board_view": _("cijfers bekeken door het bestuur"),
        "consent_given": _("toestemming gegeven"),
        "consent_withdrawn": _("toestemming ingetrokken"),
        "consent_overview_viewed": _("toestemmingen van de groep bekeken"),
        "log_viewed": _("logboek bekeken"),
        "note_erased": _("notitie over gezondheid of leren gewist"),
        "parnassys_done": _("verwijderd in ParnasSys"),
        "copy_downloaded": _("kopie gedownload"),
        "deletion_approved": _("verwijdering goedgekeurd"),
        "disclosure_registered": _("verstrekking vastgelegd"),
        "pupil_erased": _("gegevens van de leerling gewist"),
        "request_created": _("verzoek ingediend"),
        "request_extended": _("termijn verlengd"),
        "request_forwarded": _("doorgestuurd naar de directeur"),
        "request_message": _("bericht bij een verzoek"),
        "request_picked_up": _("verzoek opgepakt"),
        "request_approved": _("verzoek goedgekeurd door de directeur"),
        "request_lifted": _("opgeheven door de directeur"),
        "request_rejected": _("verzoek afgewezen"),
        "request_reply": _("antwoord aan de ouder"),
        "request_resolved": _("verzoek afgehandeld"),
        "request_viewed": _("gegevens bekeken"),
        "request_withdrawn": _("verzoek ingetrokken"),
    }
    return labels.get(action, action)


def notification_label(template: str) -> str:
    """What a queued notification was about, for the director's "Niet bezorgd"."""
    labels = {
        "consent_changed_guardian": _("toestemming gewijzigd (aan de andere ouder)"),
        "consent_changed_staff": _("toestemming gewijzigd (aan de leerkracht)"),
        "consent_yearly": _("jaarlijkse vraag over toestemming"),
        "overdue_summary": _("overzicht van te late verzoeken"),
        "photos_erased_staff": _("niet meer op beeld (aan de leerkracht)"),
        "pupil_erased": _("gegevens van de leerling gewist"),
        "request_due_soon": _("herinnering: termijn loopt af"),
        "request_extended": _("termijn verlengd"),
        "request_lifted": _("opgeheven door de directeur"),
        "request_message": _("bericht bij een verzoek"),
        "request_new": _("nieuw verzoek"),
        "request_rejected": _("verzoek afgewezen"),
        "request_reply": _("antwoord aan de ouder"),
        "request_resolved": _("verzoek afgehandeld"),
        "request_withdrawn": _("verzoek ingetrokken"),
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
        **{k: channel_label(k) for k in ("website", "nieuwsbrief", "parro")},
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
