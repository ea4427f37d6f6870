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
