"""The `ouderloket` command line, for the school's administrator."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiogram.utils.i18n import I18n
from pydantic import ValidationError
from pydantic_settings import SettingsError

from bot.config import Settings
from bot.i18n import create_i18n
from bot.logs import configure_logging
from flows.clock import SystemClock
from storage.db import create_engine, create_session_factory, refresh_statistics, transaction
from storage.migrate import upgrade
from storage.models import StaffRole

if TYPE_CHECKING:
    from bot.schools import School
    from storage.importers.pupils import ImportSummary

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _(message: str) -> str:
    return I18n.get_current(no_error=False).gettext(message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ouderloket",
        description=_("Ouderloket: de Telegram-bot voor privacyverzoeken van ouders."),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help=_("de bot starten (long polling, of --webhook)"))
    run.add_argument("--webhook", action="store_true", help=_("webhook in plaats van long polling"))
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help=_("aantal webhookprocessen (met PostgreSQL en REDIS_URL)"),
    )

    demo = sub.add_parser(
        "demo", help=_("de demo: een nagebootst Telegram met webchat, zonder BOT_TOKEN")
    )
    _demo_arguments(demo)
    _demo_arguments(run)  # without BOT_TOKEN, `run` starts the demo

    db = sub.add_parser("db", help=_("database"))
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    _school_argument(
        db_sub.add_parser("upgrade", help=_("migraties uitvoeren tot de nieuwste versie"))
    )

    imp = sub.add_parser(
        "import-pupils",
        help=_("leerlingexport uit ParnasSys inlezen (CSV, of EDEXML met --guardians)"),
    )
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--guardians",
        type=Path,
        help=_("bij een EDEXML-bestand: de ouders (CSV met leerling;naam;email)"),
    )
    imp.add_argument("--dry-run", action="store_true", help=_("alleen controleren, niets opslaan"))
    imp.add_argument(
        "--confirm-left",
        action="store_true",
        help=_(
            "bevestigen dat meer dan een tiende van de leerlingen (of een hele groep) vertrokken is"
        ),
    )
    imp.add_argument(
        "--no-email-match",
        action="store_true",
        help=_(
            "een e-mailadres is niet één ouder: ouders herkennen aan naam + e-mailadres "
            "(voor exports met gedeelde adressen, zoals onbekend@...)"
        ),
    )

    vendors = sub.add_parser(
        "import-vendors",
        help=_("privacybijsluiters van leveranciers (YAML-bestand of map) inlezen"),
    )
    vendors.add_argument("path", type=Path)

    staff = sub.add_parser(
        "add-staff",
        help=_("leerkracht, directeur of bestuurslid toevoegen (drukt de code af)"),
    )
    staff.add_argument("--name", required=True)
    staff.add_argument("--role", required=True, choices=[r.value for r in StaffRole])
    staff.add_argument(
        "--group", action="append", default=[], help=_("groep, bv. 5A (herhaalbaar)")
    )

    erase = sub.add_parser(
        "erase-pupil", help=_("alle gegevens van één leerling uit de bot wissen")
    )
    erase.add_argument("leerlingnummer")
    retention = sub.add_parser(
        "retention",
        help=_("de bewaartermijnen toepassen (ook dagelijks door de bot zelf)"),
    )
    retention.add_argument(
        "--dry-run", action="store_true", help=_("alleen tonen wat gewist wordt, en wanneer")
    )
    lifecycle = sub.add_parser(
        "staff", help=_("medewerkers: lijst, deactiveren, activeren, groepen, nieuwe code")
    )
    staff_sub = lifecycle.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    staff_sub.add_parser("list", help=_("alle medewerkers met rol, groepen en status"))
    deactivate = staff_sub.add_parser(
        "deactivate", help=_("medewerker vertrekt: geen toegang meer, open verzoeken gaan door")
    )
    deactivate.add_argument("name", metavar="NAME")
    activate = staff_sub.add_parser(
        "activate", help=_("een gedeactiveerde medewerker weer toegang laten krijgen")
    )
    activate.add_argument("name", metavar="NAME")
    set_groups = staff_sub.add_parser(
        "set-groups", help=_("de groepen van een medewerker vervangen")
    )
    set_groups.add_argument("name", metavar="NAME")
    set_groups.add_argument(
        "--group", action="append", default=[], help=_("groep, bv. 5A (herhaalbaar)")
    )
    new_code = staff_sub.add_parser(
        "new-code", help=_("nieuwe code (bv. nieuwe telefoon); het oude account werkt niet meer")
    )
    new_code.add_argument("name", metavar="NAME")

    inv = sub.add_parser(
        "invite-codes", help=_("codes en brieven voor ouders zonder gekoppeld account")
    )
    inv.add_argument(
        "--out", type=Path, default=Path("out"), help=_("map voor codes.csv en letters.html")
    )
    report = sub.add_parser(
        "report",
        help=_("verantwoordingsrapport (HTML met grafieken en CSV) voor de privacyfunctionaris"),
    )
    report.add_argument("--from", dest="start", required=True, metavar="DATUM", type=_date)
    report.add_argument("--to", dest="end", required=True, metavar="DATUM", type=_date)
    report.add_argument(
        "--out", type=Path, default=Path("rapport"), help=_("map voor report.html en de CSV's")
    )
    report.add_argument(
        "--school",
        metavar="KEY",
        help=_("de school uit schools.yaml; zonder: alle scholen in één rapport"),
    )
    for school_parser in (imp, vendors, staff, erase, retention, inv, *staff_sub.choices.values()):
        _school_argument(school_parser)
    return parser


def _date(text: str) -> date:
    for form in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(_("geen datum; schrijf bv. 2026-08-01 of 01-08-2026"))


def _school_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--school",
        metavar="KEY",
        help=_("de school uit schools.yaml (verplicht bij meer dan één school)"),
    )


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help=_("adres van de webchat"))
    parser.add_argument("--port", type=int, default=8080, help=_("poort van de webchat"))
    parser.add_argument(
        "--demo-database",
        type=Path,
        default=Path("ouderloket-demo.db"),
        help=_("SQLite-bestand van de demo; wordt bij elke start opnieuw gevuld"),
    )


async def _with_db(settings: Settings, migrate: bool = True) -> Any:
    engine = create_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    return engine


async def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    engine = await _with_db(settings)
    await engine.dispose()
    print(_("De database is bijgewerkt."))
    return 0


async def cmd_import_pupils(args: argparse.Namespace, settings: Settings) -> int:
    from bot.import_report import print_left_unconfirmed, print_rejection, print_summary
    from storage.importers.edexml import looks_like_edexml
    from storage.importers.pupils import ImportRejected, LeftNotConfirmed, import_pupils

    if not args.file.is_file():
        print(_("Bestand niet gevonden: {path}").format(path=args.file), file=sys.stderr)
        return 2
    if looks_like_edexml(args.file.read_bytes()[:64]):
        return await _import_edexml(args, settings)
    if args.guardians is not None:
        print(_("--guardians hoort bij een EDEXML-bestand, niet bij een CSV."), file=sys.stderr)
        return 2
    engine = await _with_db(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            summary = await import_pupils(
                session,
                args.file,
                SystemClock().now(),
                filename=args.file.name,
                dry_run=args.dry_run,
                channels=settings.consent_channels,
                email_match=not args.no_email_match,
                confirm_left=args.confirm_left,
            )
        if not args.dry_run:
            await refresh_statistics(engine)
    except ImportRejected as rejected:
        print_rejection(rejected)
        return 1
    except LeftNotConfirmed as unconfirmed:
        print_left_unconfirmed(unconfirmed.summary, dry_run=False)
        return 1
    finally:
        await engine.dispose()
    print_summary(summary, dry_run=args.dry_run)
    return _left_checked(summary, args)


def _left_checked(summary: ImportSummary, args: argparse.Namespace) -> int:
    """A dry run shows what an import would refuse: the same exit status."""
    from bot.import_report import print_left_unconfirmed

    if args.dry_run and summary.left_needs_confirmation and not args.confirm_left:
        print_left_unconfirmed(summary, dry_run=True)
        return 1
    return 0


async def _import_edexml(args: argparse.Namespace, settings: Settings) -> int:
    from bot.import_report import print_edex_summary, print_left_unconfirmed, print_rejection
    from flows.school_import import import_school
    from storage.importers.pupils import ImportRejected, LeftNotConfirmed

    if args.guardians is None:
        print(
            _(
                "EDEXML bevat geen ouders. Geef ook het ouderbestand op met --guardians "
                "(CSV met de kolommen leerling;naam;email)."
            ),
            file=sys.stderr,
        )
        return 2
    if not args.guardians.is_file():
        print(_("Bestand niet gevonden: {path}").format(path=args.guardians), file=sys.stderr)
        return 2
    guardians_raw = args.guardians.read_bytes()
    try:
        guardians = guardians_raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        print(
            _("{path}: het bestand is geen UTF-8; sla het op als 'CSV UTF-8'").format(
                path=args.guardians.name
            ),
            file=sys.stderr,
        )
        return 1
    engine = await _with_db(settings)
    try:
        async with create_session_factory(engine)() as session:
            result = await import_school(
                session,
                args.file.read_bytes(),
                guardians,
                SystemClock().now(),
                xml_name=args.file.name,
                guardians_name=args.guardians.name,
                channels=settings.consent_channels,
                email_match=not args.no_email_match,
                # A dry run keeps nothing: it goes on, to show all it would do.
                confirm_left=args.confirm_left or args.dry_run,
            )
            # A dry run goes through every step, teachers included, and keeps nothing.
            await (session.rollback() if args.dry_run else session.commit())
        if not args.dry_run:
            await refresh_statistics(engine)
    except ImportRejected as rejected:
        print_rejection(rejected)
        return 1
    except LeftNotConfirmed as unconfirmed:
        print_left_unconfirmed(unconfirmed.summary, dry_run=False)
        return 1
    finally:
        await engine.dispose()
    print_edex_summary(result, dry_run=args.dry_run)
    return _left_checked(result.pupils.summary, args)


async def cmd_import_vendors(args: argparse.Namespace, settings: Settings) -> int:
    from bot.import_report import print_vendor_rejection
    from storage.importers.vendors import VendorsRejected, import_vendors

    if not args.path.exists():
        print(_("Bestand niet gevonden: {path}").format(path=args.path), file=sys.stderr)
        return 2
    engine = await _with_db(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            loaded = await import_vendors(session, args.path)
        await refresh_statistics(engine)
    except VendorsRejected as rejected:
        print_vendor_rejection(rejected)
        return 1
    finally:
        await engine.dispose()
    names = ", ".join(v.name for v in loaded)
    print(_("{count} leverancier(s) ingelezen: {names}").format(count=len(loaded), names=names))
    return 0


async def cmd_add_staff(args: argparse.Namespace, settings: Settings) -> int:
    from flows.codes import display
    from flows.errors import InvalidInput
    from flows.invites import add_staff

    engine = await _with_db(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            issued = await add_staff(
                session, args.name, StaffRole(args.role), args.group, SystemClock().now()
            )
    except InvalidInput as error:
        if error.reason.startswith("unknown_group:"):
            group = error.reason.split(":", 1)[1]
            message = _("Groep {group} bestaat niet. Lees eerst de leerlingen in.").format(
                group=group
            )
        elif error.reason == "teacher_without_group":
            message = _("Geef bij een leerkracht minstens één groep op met --group.")
        else:
            message = _("Geef een naam op.")
        print(message, file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(
        _(
            "{name} is toegevoegd. Geef deze code persoonlijk; hij werkt één keer, 60 dagen lang."
        ).format(name=issued.name)
    )
    print(display(issued.code))
    return 0


async def cmd_erase_pupil(args: argparse.Namespace, settings: Settings) -> int:
    from bot.retention_report import erasure_lines
    from flows.erasure import erase_pupil_by_number
    from flows.errors import NotFound

    engine = await _with_db(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            erased = await erase_pupil_by_number(session, args.leerlingnummer, SystemClock().now())
    except NotFound:
        print(
            _("Geen leerling met nummer {number} (of al gewist).").format(
                number=args.leerlingnummer
            ),
            file=sys.stderr,
        )
        return 2
    finally:
        await engine.dispose()
    print("\n".join(erasure_lines(erased, args.leerlingnummer)))
    return 0


async def cmd_retention(args: argparse.Namespace, settings: Settings) -> int:
    from bot.retention_report import retention_lines
    from flows.erasure import run_retention

    engine = await _with_db(settings)
    days = settings.left_pupil_retention_days
    try:
        async with transaction(create_session_factory(engine)) as session:
            result = await run_retention(
                session, SystemClock().now(), retention_days=days, dry_run=args.dry_run
            )
    finally:
        await engine.dispose()
    print("\n".join(retention_lines(result, retention_days=days, dry_run=args.dry_run)))
    return 0


def _staff_problem(error: Any) -> str:
    reason: str = error.reason
    if reason.startswith("unknown_group:"):
        return _("Groep {group} bestaat niet. Lees eerst de leerlingen in.").format(
            group=reason.split(":", 1)[1]
        )
    texts = {
        "unknown_staff": _("Geen medewerker met die naam. Zie: ouderloket staff list"),
        "ambiguous_staff": _("Meer medewerkers hebben die naam. Zie: ouderloket staff list"),
        "already_inactive": _("Deze medewerker is al gedeactiveerd."),
        "already_active": _("Deze medewerker is al actief."),
        "inactive": _("Deze medewerker is gedeactiveerd."),
        "teacher_without_group": _("Geef bij een leerkracht minstens één groep op met --group."),
    }
    return texts.get(reason, reason)


def _moved_lines(moved: Sequence[Any]) -> list[str]:
    from bot.labels import role_label

    return [
        "  "
        + _("{reference} gaat naar {who}").format(
            reference=item.reference,
            who=f"{role_label(item.role)} ({item.name})" if item.name else role_label(item.role),
        )
        for item in moved
    ]


async def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    from bot.labels import role_label
    from flows import staff_admin
    from flows.codes import display
    from flows.errors import InvalidInput

    engine = await _with_db(settings)
    now = SystemClock().now()
    lines: list[str] = []
    try:
        async with transaction(create_session_factory(engine)) as session:
            if args.staff_command == "list":
                for info in await staff_admin.list_staff(session):
                    status = (
                        (_("gekoppeld") if info.accounts else _("niet gekoppeld"))
                        if info.active
                        else _("gedeactiveerd")
                    )
                    groups = ", ".join(info.groups) or "-"
                    lines.append(
                        _(
                            "{name}: {role}, groepen {groups}; {status}; {open} open verzoek(en)"
                        ).format(
                            name=info.name,
                            role=role_label(info.role),
                            groups=groups,
                            status=status,
                            open=info.open_requests,
                        )
                    )
                if not lines:
                    lines.append(_("Nog geen medewerkers. Voeg ze toe met add-staff."))
            elif args.staff_command == "deactivate":
                change = await staff_admin.deactivate(session, args.name, now)
                lines.append(
                    _(
                        "{name} is gedeactiveerd: geen toegang meer tot de bot. "
                        "{moved} open verzoek(en) verplaatst."
                    ).format(name=change.name, moved=len(change.moved))
                )
                lines.extend(_moved_lines(change.moved))
            elif args.staff_command == "activate":
                change = await staff_admin.activate(session, args.name, now)
                lines.append(
                    _(
                        "{name} is weer actief. Een code om te koppelen: ouderloket staff "
                        'new-code "{name}" (of invite-codes).'
                    ).format(name=change.name)
                )
            elif args.staff_command == "set-groups":
                change = await staff_admin.set_groups(session, args.name, args.group, now)
                lines.append(
                    _("Groepen van {name}: {groups}.").format(
                        name=change.name, groups=", ".join(g.upper() for g in args.group) or "-"
                    )
                )
                lines.extend(_moved_lines(change.moved))
            else:
                issued, unlinked = await staff_admin.new_code(session, args.name, now)
                if unlinked:
                    lines.append(
                        _("Het oude account van {name} werkt niet meer.").format(name=issued.name)
                    )
                lines.append(
                    _(
                        "Nieuwe code voor {name}. Geef deze code persoonlijk; hij werkt één "
                        "keer, 60 dagen lang."
                    ).format(name=issued.name)
                )
                lines.append(display(issued.code))
    except InvalidInput as error:
        print(_staff_problem(error), file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print("\n".join(lines))
    return 0


async def cmd_invite_codes(args: argparse.Namespace, settings: Settings) -> int:
    from bot.letters import codes_csv, letters_html
    from flows.invites import guardian_codes, staff_codes

    username = await _bot_username(settings)
    if username is None:
        # Letters with a wrong link would send parents to someone else's bot.
        print(
            _("Zet BOT_USERNAME (of BOT_TOKEN) in .env: de brieven linken naar uw bot."),
            file=sys.stderr,
        )
        return 2
    engine = await _with_db(settings)
    now = SystemClock().now()
    try:
        async with transaction(create_session_factory(engine)) as session:
            issued = [*await guardian_codes(session, now), *await staff_codes(session, now)]
            # Written inside the transaction: if the files cannot be written, no code is
            # stored that nobody has on paper.
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "codes.csv").write_text(codes_csv(issued, username), encoding="utf-8-sig")
            (args.out / "letters.html").write_text(
                letters_html(issued, username, settings.school_name, now), encoding="utf-8"
            )
        await refresh_statistics(engine)
    finally:
        await engine.dispose()
    print(
        _("{count} nieuwe codes. Brieven: {letters}, lijst: {csv}").format(
            count=len(issued), letters=args.out / "letters.html", csv=args.out / "codes.csv"
        )
    )
    return 0


async def _bot_username(settings: Settings) -> str | None:
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.bot_token is not None:
        from bot.app import create_bot

        bot = create_bot(settings)
        try:
            me = await bot.get_me()
        finally:
            await bot.session.close()
        return me.username
    return None


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runner import run_polling, run_webhook, webhook_secret
    from bot.schools import SchoolsProblem, schools_file

    try:
        board_file = schools_file()
    except SchoolsProblem as problem:
        print(problem, file=sys.stderr)
        return 2
    if board_file is not None:
        return await _run_board(args, settings)
    if settings.bot_token is None and args.webhook:
        # The demo on a webhook would look like a started bot and serve fictional data.
        print(
            _(
                "BOT_TOKEN ontbreekt: de webhook start niet. Zet het token van @BotFather "
                "als BOT_TOKEN in de omgeving of in .env; zonder --webhook start de demo."
            ),
            file=sys.stderr,
        )
        return 2
    if settings.bot_token is None:
        print(
            _(
                "BOT_TOKEN ontbreekt, dus de demo start: een nagebootst Telegram met een "
                "verzonnen school. Voor de echte bot: maak een bot aan bij @BotFather en zet "
                "het token als BOT_TOKEN in de omgeving of in .env."
            ),
            file=sys.stderr,
        )
        return await cmd_demo(args, settings)
    if args.webhook:
        if not settings.webhook_url:
            print(_("Zet WEBHOOK_URL en WEBHOOK_SECRET voor de webhook."), file=sys.stderr)
            return 2
        try:
            # Checked by the server too; here it stops before the workers are started.
            webhook_secret(settings)
        except SystemExit as refused:
            print(refused.code, file=sys.stderr)
            return 2
    if args.workers > 1 and not args.webhook:
        print(_workers_need_webhook(), file=sys.stderr)
        return 2
    if args.webhook and args.workers > 1:
        from bot.workers import run_workers

        if settings.redis_url is None or settings.database_url.startswith("sqlite"):
            print(
                _("Meerdere workers hebben PostgreSQL (DATABASE_URL) en Redis (REDIS_URL) nodig."),
                file=sys.stderr,
            )
            return 2
        return await run_workers(settings, args.workers)
    if args.webhook:
        await run_webhook(settings)
    else:
        await run_polling(settings)
    return 0


async def _run_board(args: argparse.Namespace, settings: Settings) -> int:
    """All schools of schools.yaml in this one process, a bot and a database each."""
    from bot.runner import run_board_polling, run_board_webhook, webhook_secret
    from bot.schools import SchoolsProblem, load_schools

    try:
        schools = load_schools(settings)
    except SchoolsProblem as problem:
        print(problem, file=sys.stderr)
        return 2
    missing = [s.key for s in schools if s.settings.bot_token is None]
    if missing:
        print(
            _("Het bot-token ontbreekt voor: {keys}. Zet de variabele uit token_env.").format(
                keys=", ".join(missing)
            ),
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and not args.webhook:
        print(_workers_need_webhook(), file=sys.stderr)
        return 2
    if args.webhook:
        if not settings.webhook_url:
            print(_("Zet WEBHOOK_URL en WEBHOOK_SECRET voor de webhook."), file=sys.stderr)
            return 2
        try:
            webhook_secret(settings)
        except SystemExit as refused:
            print(refused.code, file=sys.stderr)
            return 2
        if args.workers > 1:
            return await _run_board_workers(args.workers, settings, schools)
        await run_board_webhook(settings, schools)
    else:
        await run_board_polling(schools)
    return 0


def _workers_need_webhook() -> str:
    return _("--workers geldt alleen met --webhook; long polling draait in één proces.")


async def _run_board_workers(count: int, settings: Settings, schools: list[School]) -> int:
    """Every worker serves every school: each school's forms, turns and pace must be
    where all workers see them, so REDIS_URL and a PostgreSQL database per school."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from bot.workers import run_workers

    if settings.redis_url is None:
        print(
            _("Meerdere workers met schools.yaml hebben Redis (REDIS_URL) nodig."),
            file=sys.stderr,
        )
        return 2

    def on_postgres(url: str) -> bool:
        try:
            return make_url(url).get_backend_name() == "postgresql"
        except ArgumentError:
            return False

    elsewhere = [s.key for s in schools if not on_postgres(s.settings.database_url)]
    if elsewhere:
        print(
            _(
                "Meerdere workers hebben voor elke school PostgreSQL nodig; in schools.yaml "
                "staat een andere database bij: {keys}."
            ).format(keys=", ".join(elsewhere)),
            file=sys.stderr,
        )
        return 2
    return await run_workers(settings, count, schools)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to an outside address


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    if not _is_loopback(args.host):
        print(
            _(
                "Let op: de demo luistert op {host}. Iedereen die dit adres bereikt, kan "
                "elke persoon van de demo kiezen en namens die persoon handelen. Gebruik "
                "127.0.0.1 als alleen u de demo gebruikt."
            ).format(host=args.host),
            file=sys.stderr,
        )

    def announce(url: str) -> None:
        print(_("De demo draait. Open {url} in uw browser; stoppen met Ctrl+C.").format(url=url))
        sys.stdout.flush()

    await run_demo(
        settings, host=args.host, port=args.port, database=args.demo_database, announce=announce
    )
    return 0


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.report import SchoolReport, write_report
    from bot.schools import SchoolsProblem, load_schools, resolve_school
    from flows.board import report

    if args.start > args.end:
        print(_("--from ligt na --to."), file=sys.stderr)
        return 2
    try:
        schools = load_schools(settings)
        if args.school is not None:
            schools = [resolve_school(schools, args.school)]
    except SchoolsProblem as problem:
        print(problem, file=sys.stderr)
        return 2
    now = SystemClock().now()
    parts = []
    for school in schools:
        engine = await _with_db(school.settings)
        try:
            async with create_session_factory(engine)() as session:
                figures = await report(
                    session, args.start, args.end, now, school.settings.consent_channels
                )
        finally:
            await engine.dispose()
        parts.append(SchoolReport(school.key, school.settings.school_name, figures))
    written = write_report(parts, args.start, args.end, now, args.out)
    print(_("Rapport geschreven: {path}").format(path=written[0]))
    flagged = sum(len(p.report.stale_vendors) for p in parts)
    if flagged:
        print(
            _("{count} privacybijsluiter(s) niet herzien in de afgelopen 12 maanden.").format(
                count=flagged
            )
        )
    return 0


COMMANDS: dict[str, Command] = {
    "report": cmd_report,
    "run": cmd_run,
    "demo": cmd_demo,
    "db": cmd_db,
    "import-pupils": cmd_import_pupils,
    "import-vendors": cmd_import_vendors,
    "add-staff": cmd_add_staff,
    "staff": cmd_staff,
    "invite-codes": cmd_invite_codes,
    "erase-pupil": cmd_erase_pupil,
    "retention": cmd_retention,
}


def _accepted_forms() -> dict[str, str]:
    # Per call: translated in the reader's language. Text settings cannot be invalid.
    return {
        "data_view_ttl": _("seconden (900) of ISO 8601 (PT15M)"),
        "default_locale": _("nl of en"),
        "webhook_port": _("een poortnummer, bv. 8081"),
        "webhook_max_connections": _("een geheel getal van 1 tot en met 100"),
        "consent_check_month": _("een maand, 1 tot en met 12"),
        "consent_check_day": _("een dag, 1 tot en met 28"),
        "consent_channels": _('een JSON-lijst, bv. ["website", "nieuwsbrief", "parro"]'),
    }


def settings_problem(error: ValidationError | SettingsError) -> str:
    """One line naming each invalid setting and what it accepts, never the value itself
    (it may be a token or a secret)."""
    if isinstance(error, ValidationError):
        fields = [str(e["loc"][0]) for e in error.errors() if e["loc"]]
    else:
        # pydantic-settings only says it in prose: 'error parsing value for field "x" ...'
        fields = re.findall(r'field "([a-z_]+)"', str(error))
    forms = _accepted_forms()
    parts = [
        _("{variable} is ongeldig; gebruik {form}.").format(
            variable=field.upper(),
            form=forms.get(field, _("de vorm uit de README (Configuration)")),
        )
        for field in dict.fromkeys(fields)
    ]
    return " ".join(parts) or _("Een instelling is ongeldig; zie de README (Configuration).")


def _load_settings() -> Settings | None:
    """The settings, or None after one line on stderr: a typo in .env is not a crash."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as error:
        # The language setting may itself be the broken one.
        locale = os.environ.get("DEFAULT_LOCALE", "nl")
        locale = locale if locale in ("nl", "en") else "nl"
        i18n = create_i18n(locale)
        with i18n.context(), i18n.use_locale(locale):
            print(settings_problem(error), file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    settings = _load_settings()
    if settings is None:
        return 2
    configure_logging()
    i18n = create_i18n(settings.default_locale)
    with i18n.context(), i18n.use_locale(settings.default_locale):
        args = build_parser().parse_args(argv)
        # The report covers every school unless --school names one.
        if hasattr(args, "school") and args.command != "report":
            from bot.schools import SchoolsProblem, school_settings

            try:
                settings = school_settings(settings, args.school)
            except SchoolsProblem as problem:
                print(problem, file=sys.stderr)
                return 2
        try:
            return asyncio.run(COMMANDS[args.command](args, settings))
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
