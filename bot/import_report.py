"""What `ouderloket import-pupils` prints: a summary, or every problem with its line."""

from __future__ import annotations

import sys

from aiogram.utils.i18n import I18n

from flows.school_import import SchoolImport
from storage.importers.pupils import ImportRejected, ImportSummary, KeptErasure, RowError
from storage.importers.vendors import VendorError, VendorsRejected

MAX_SHOWN = 200


def _(message: str) -> str:
    return I18n.get_current(no_error=False).gettext(message)


def _explain(code: str) -> str:
    # Built per call: the texts must be translated in the reader's language.
    texts = {
        "encoding": _("het bestand is geen UTF-8; sla het op als 'CSV UTF-8'"),
        "csv_syntax": _("deze regel is geen geldige CSV"),
        "empty_file": _("het bestand is leeg"),
        "no_pupils": _("het bestand heeft geen leerlingen; dan zou iedereen als vertrokken gelden"),
        "missing_column": _("deze kolom ontbreekt in de kopregel"),
        "duplicate_column": _("deze kolom staat twee keer in de kopregel"),
        "required": _("dit veld is verplicht"),
        "too_long": _("de waarde is te lang"),
        "duplicate_pupil": _("dit leerlingnummer staat al eerder in het bestand"),
        "duplicate_teacher": _(
            "deze leerkrachtsleutel staat al eerder in het bestand; één sleutel is één persoon"
        ),
        "date_invalid": _("geen geldige datum (dd-mm-jjjj of jjjj-mm-dd)"),
        "date_future": _("de geboortedatum ligt in de toekomst"),
        "date_too_old": _("de geboortedatum ligt voor 1990"),
        "gender": _("geslacht moet M, V of X zijn"),
        "jaargroep": _("jaargroep moet een getal van 1 tot en met 8 zijn"),
        "email": _("geen geldig e-mailadres"),
        "guardian2_incomplete": _("vul bij ouder 2 naam én e-mailadres in, of geen van beide"),
        "guardian2_same_email": _("ouder 2 heeft hetzelfde e-mailadres als ouder 1"),
        "consent_value": _("toestemming moet 'ja', 'nee' of leeg zijn"),
        "field_count": _(
            "{found} velden, de kopregel heeft er {expected}. Waarschijnlijk staat hier een "
            "; of , in de tekst: zet de tekst tussen aanhalingstekens of haal het teken weg"
        ),
        "email_names_differ": _(
            "{email} staat op regel {lines} met verschillende namen. Geef elke ouder een "
            "eigen e-mailadres, of lees in met --no-email-match"
        ),
        "email_families": _(
            "{email} staat op regel {lines} bij gezinnen zonder gezamenlijk kind. Geef elke "
            "ouder een eigen e-mailadres, of lees in met --no-email-match"
        ),
        "email_reused": _(
            "{email} hoort in Ouderloket bij een andere ouder (andere naam), die geen kind "
            "heeft op regel {lines}. Geef deze ouder een eigen e-mailadres, of lees in met "
            "--no-email-match"
        ),
        "placeholder_families": _(
            "{email} staat met dezelfde naam op regel {lines} als enige ouder van kinderen "
            "uit verschillende gezinnen. Dit lijkt een invulwaarde: het zou één ouder worden, "
            "met één brief voor al die kinderen. Vul per kind de echte ouder in"
        ),
        "xml_syntax": _("het bestand is geen geldige XML; exporteer het opnieuw uit ParnasSys"),
        "xml_doctype": _(
            "het bestand bevat een DOCTYPE of ENTITY; een EDEXML-export heeft die nooit, "
            "dus het is geweigerd (exporteer het opnieuw uit ParnasSys)"
        ),
        "xml_root": _("dit is geen EDEXML-export (het hoofdelement is geen EDEX)"),
        "xml_too_large": _("het bestand is groter dan 64 MB"),
        "missing_element": _("dit element ontbreekt"),
        "edex_gender": _("geslacht moet 0, 1, 2 of 9 zijn (EDEXML-code)"),
        "unknown_group": _("deze groep staat niet bij de groepen in het bestand"),
        "duplicate_group": _("deze groep staat twee keer in het bestand"),
        "unknown_pupil": _("geen leerling met deze sleutel in het EDEXML-bestand"),
        "guardian_twice": _("deze ouder staat al eerder bij deze leerling"),
        "email_match_needed": _(
            "eerder is ingelezen met --no-email-match; doe dat nu ook, anders zijn ouders "
            "met hetzelfde e-mailadres niet uit elkaar te houden"
        ),
    }
    return texts.get(code, code)


def _line_list(lines: tuple[int, ...]) -> str:
    if len(lines) < 2:
        return ", ".join(map(str, lines))
    return _("{first} en {last}").format(first=", ".join(map(str, lines[:-1])), last=lines[-1])


def describe(error: RowError) -> str:
    where = _("regel {line}").format(line=error.line)
    if error.column:
        where += f", {error.column}"
    text = _explain(error.code)
    if error.counts is not None:
        # No cell of a misaligned row is shown: its columns cannot be trusted.
        found, expected = error.counts
        return f"{where}: {text.format(found=found, expected=expected)}"
    if error.lines:
        return f"{where}: {text.format(email=error.value, lines=_line_list(error.lines))}"
    value = f" ({error.value!r})" if error.value else ""
    return f"{where}: {text}{value}"


def print_rejection(rejected: ImportRejected) -> None:
    print(
        _("Het bestand is niet ingelezen; er is niets veranderd. {count} fout(en):").format(
            count=len(rejected.errors)
        ),
        file=sys.stderr,
    )
    if rejected.filename:
        print(_("In {file}:").format(file=rejected.filename), file=sys.stderr)
    # Sorted by line, so the administrator can walk through the file top to bottom.
    for error in sorted(rejected.errors, key=lambda e: e.line)[:MAX_SHOWN]:
        print("  " + describe(error), file=sys.stderr)
    if len(rejected.errors) > MAX_SHOWN:
        print(
            _("  … en nog {count} meer.").format(count=len(rejected.errors) - MAX_SHOWN),
            file=sys.stderr,
        )


def print_summary(summary: ImportSummary, *, dry_run: bool) -> None:
    if dry_run:
        print(_("Controle geslaagd; er is niets opgeslagen. Bij inlezen zou dit gebeuren:"))
    else:
        print(_("Ingelezen:"))
        if summary.left_needs_confirmation:  # confirmed: said once more, for the record
            print("\n".join(left_lines(summary)))
    print(
        _(
            "leerlingen: {added} nieuw, {updated} bijgewerkt, {unchanged} ongewijzigd, "
            "{left} vertrokken"
        ).format(
            added=summary.pupils_added,
            updated=summary.pupils_updated,
            unchanged=summary.pupils_unchanged,
            left=summary.pupils_left,
        )
    )
    print(
        _("ouders/verzorgers: {added} nieuw, {updated} bijgewerkt; groepen: {groups} nieuw").format(
            added=summary.guardians_added,
            updated=summary.guardians_updated,
            groups=summary.groups_added,
        )
    )
    if summary.kept_erased:
        print(
            _(
                "Let op: op verzoek van de ouders verwijderd, maar ParnasSys heeft het nog. "
                "Ouderloket houdt het verwijderd; verwijder het ook in ParnasSys:"
            )
        )
        for kept in summary.kept_erased[:MAX_SHOWN]:
            print("  " + describe_kept(kept))
        if len(summary.kept_erased) > MAX_SHOWN:
            print(_("  … en nog {count} meer.").format(count=len(summary.kept_erased) - MAX_SHOWN))


def left_lines(summary: ImportSummary) -> list[str]:
    """How many pupils the export would mark as left, per group: enough for the
    administrator to see a one-group file or a half export for what it is."""
    current = sum(total for _, _, total in summary.left_by_group)
    lines = [
        _(
            "Let op: dit bestand markeert {left} leerling(en) als vertrokken, van {current} in "
            "de groepen hieronder. Per groep:"
        ).format(left=summary.pupils_left, current=current)
    ]
    for group, left, total in summary.left_by_group[:MAX_SHOWN]:
        line = _("  {group}: {left} van {total}").format(group=group, left=left, total=total)
        if left == total:
            line += " " + _("(de hele groep)")
        lines.append(line)
    return lines


def print_left_unconfirmed(summary: ImportSummary, *, dry_run: bool) -> None:
    """The import stops: more than a tenth of the pupils, or a whole group, would leave."""
    for line in left_lines(summary):
        print(line, file=sys.stderr)
    if dry_run:
        print(
            _(
                "Inlezen gaat alleen met --confirm-left: vertrokken leerlingen verliezen "
                "meteen de toegang van hun ouders en hun notitie wordt gewist."
            ),
            file=sys.stderr,
        )
        return
    print(
        _(
            "Er is niets ingelezen en niets veranderd. Is dit de export van de hele school "
            "en zijn deze leerlingen echt vertrokken? Lees dan opnieuw in met --confirm-left. "
            "Anders: exporteer alle groepen uit ParnasSys."
        ),
        file=sys.stderr,
    )


def describe_kept(kept: KeptErasure) -> str:
    """One line of the warning: where, and which field; never the value."""
    labels = {
        "bijzonderheden": _("bijzonderheden (notitie over gezondheid of leren)"),
        "tussenvoegsel": _("tussenvoegsel"),
    }
    return _("regel {line}, {column}: niet overgenomen").format(
        line=kept.line, column=labels.get(kept.column, kept.column)
    )


def _explain_vendor(error: VendorError) -> str:
    texts = {
        "yaml": _("geen geldige YAML"),
        "not_a_mapping": _("het bestand beschrijft geen leverancier"),
        "required": _("dit veld is verplicht"),
        "key": _("de sleutel mag alleen kleine letters, cijfers, - en _ bevatten (max. 48)"),
        "data_field": _("onbekend gegeven"),
        "date": _("geen geldige datum (jjjj-mm-dd)"),
        "url": _("geen geldige link (http:// of https:// met een domeinnaam)"),
        "too_long": _("de waarde is te lang"),
        "duplicate": _("deze sleutel komt in twee bestanden voor"),
    }
    return texts.get(error.code, error.code)


def print_vendor_rejection(rejected: VendorsRejected) -> None:
    print(_("Er is niets ingelezen. Fouten:"), file=sys.stderr)
    for error in rejected.errors:
        where = error.file + (f", {error.field}" if error.field else "")
        value = f" ({error.value!r})" if error.value else ""
        print(f"  {where}: {_explain_vendor(error)}{value}", file=sys.stderr)


def print_edex_summary(result: SchoolImport, *, dry_run: bool) -> None:
    print_summary(result.pupils.summary, dry_run=dry_run)
    teachers = result.teachers
    print(
        _("leerkrachten: {added} nieuw, {updated} bijgewerkt, {left} vertrokken").format(
            added=len(teachers.added) + len(teachers.replaced),
            updated=len(teachers.updated),
            left=len(teachers.deactivated) + len(teachers.replaced),
        )
    )
    for replaced in teachers.replaced:
        print(
            _(
                "Sleutel {key} hoort nu bij {new}, niet meer bij {former}: dat zijn twee "
                "personen. {former} is gedeactiveerd en heeft geen toegang meer; {new} is "
                "nieuw."
            ).format(key=replaced.key, new=replaced.new, former=replaced.former)
        )
    for name in teachers.matched:
        print(
            _(
                "{name} was al medewerker en is nu gekoppeld aan de export (geen tweede account)."
            ).format(name=name)
        )
    for name in teachers.kept_inactive:
        print(
            _(
                "{name} staat in de export, maar is gedeactiveerd en blijft dat. Weer actief "
                'maken: ouderloket staff activate "{name}"'
            ).format(name=name)
        )
    for name in teachers.ambiguous:
        print(
            _(
                "Niet ingelezen: meer medewerkers heten {name}. Zie ouderloket staff list "
                "en deactiveer wie niet meer op school werkt."
            ).format(name=name)
        )
    if teachers.added or teachers.replaced:
        print(_("Nieuwe leerkrachten krijgen hun code met: ouderloket invite-codes"))
    without = result.pupils.without_guardian
    if without:
        print(
            _("Leerlingen zonder ouder in het ouderbestand ({count}): {numbers}").format(
                count=len(without), numbers=", ".join(without[:MAX_SHOWN])
            )
        )
