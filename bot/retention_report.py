"""What `ouderloket retention` and `ouderloket erase-pupil` print for the administrator.
Pupils are named by their leerlingnummer only: the console may be a shared screen."""

from __future__ import annotations

from aiogram.utils.i18n import I18n

from bot.render import long_date
from flows.erasure import Due, Erasure, PlannedErasure, RetentionResult


def _(message: str) -> str:
    return I18n.get_current(no_error=False).gettext(message)


def _what(item: PlannedErasure) -> str:
    if item.what is Due.NOTE:
        return _("bijzondere persoonsgegevens (bijzonderheden)")
    return _("alle gegevens in de bot")


def retention_lines(result: RetentionResult, *, retention_days: int, dry_run: bool) -> list[str]:
    lines = [
        _(
            "Bewaartermijn voor leerlingen die de school hebben verlaten: {days} dagen "
            "(LEFT_PUPIL_RETENTION_DAYS)."
        ).format(days=retention_days)
    ]
    if dry_run:
        lines.append(_("Nu te wissen: {count}").format(count=len(result.erasures)))
    else:
        lines.append(_("Gewist: {count}").format(count=len(result.erasures)))
    lines.extend(
        _("  leerling {number}: {what}, sinds {date}").format(
            number=item.leerlingnummer, what=_what(item), date=long_date(item.due_at)
        )
        for item in result.erasures
    )
    lines.append(_("In de komende 7 dagen: {count}").format(count=len(result.upcoming)))
    lines.extend(
        _("  leerling {number}: {what}, op {date}").format(
            number=item.leerlingnummer, what=_what(item), date=long_date(item.due_at)
        )
        for item in result.upcoming
    )
    purged = _("Meldingen waarvan de tekst vervalt: {notices}. Verlopen codepogingen: {attempts}.")
    lines.append(
        purged.format(notices=result.notices_purged, attempts=result.code_attempts_removed)
    )
    if dry_run:
        lines.append(_("Proefdraaien: er is niets gewist."))
    elif result.erasures:
        lines.append(_("Verwijder deze leerlingen ook in ParnasSys, als dat nog niet is gebeurd."))
    return lines


def erasure_lines(erased: Erasure, leerlingnummer: str) -> list[str]:
    lines = [
        _(
            "De gegevens van leerling {number} zijn uit de bot gewist. Verwijder ze ook in "
            "ParnasSys."
        ).format(number=leerlingnummer),
        _("De bot heeft de ouders hierover geen bericht gestuurd."),
    ]
    if erased.vendors:
        lines.append(
            _("Laat ook deze leveranciers de gegevens wissen: {vendors}").format(
                vendors=", ".join(erased.vendors)
            )
        )
    return lines
