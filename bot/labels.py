"""Names of data fields as a parent reads them, in the current language."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _


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
    labels = {
        "correction": _("Correctie"),
        "deletion": _("Verwijdering"),
        "question": _("Vraag"),
        "access": _("Inzageverzoek"),
    }
    return labels.get(kind, kind)


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
        "consent_withdrawn": _("Ik trek mijn toestemming in"),
        "other": _("Andere reden"),
    }
    return labels.get(ground, ground)


def deletable_label(what: str) -> str:
    labels = {
        "beeldmateriaal": _("Foto's en video's van mijn kind"),
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
        "copy_downloaded": _("kopie gedownload"),
        "deletion_approved": _("verwijdering goedgekeurd"),
        "disclosure_registered": _("verstrekking vastgelegd"),
        "pupil_erased": _("gegevens van de leerling gewist"),
        "request_created": _("verzoek ingediend"),
        "request_extended": _("termijn verlengd"),
        "request_forwarded": _("doorgestuurd naar de directeur"),
        "request_message": _("bericht bij een verzoek"),
        "request_picked_up": _("verzoek opgepakt"),
        "request_rejected": _("verzoek afgewezen"),
        "request_reply": _("antwoord aan de ouder"),
        "request_resolved": _("verzoek afgehandeld"),
        "request_viewed": _("gegevens bekeken"),
        "request_withdrawn": _("verzoek ingetrokken"),
    }
    return labels.get(action, action)
