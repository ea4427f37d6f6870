"""The secure view: the screens with a child's data, served by the school's own server as
a Telegram Mini App, so the data goes from this process to the phone and never through
Telegram's servers.

The page at SECURE_VIEW_URL is a shell without data. Its script (same origin, no other
host) reads the init data Telegram puts after the '#' (`tgWebAppData`), keeps it in
memory only and sends it in a header to `api/view` for every screen. Every request is
checked on its own (aiogram's safe_parse_webapp_init_data: the HMAC with the bot's
token), refused when older than an hour by the product's clock, and mapped to the linked
account exactly as an update is (flows.actor.load_actor). A screen is rendered from the
same flows and the same chat templates as in Telegram, so what a parent may see and what
is audited is the same; anything else gets 401 and nothing more. No cookies."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data
from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.copy import copy_documents
from bot.labels import channel_label, field_label
from bot.render import environment, render
from flows import consent, disclosures, export, inzage, linking, logbook
from flows.actor import Actor, load_actor
from flows.clock import Clock
from flows.errors import DomainError
from flows.requests import worklist
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "secure_static"
INIT_HEADER = "X-Telegram-Init-Data"
# Telegram signs the init data when the button is tapped: an hour later it is refused.
MAX_AGE = timedelta(hours=1)
# A phone whose clock runs a little ahead; more than this is not Telegram's signature.
FUTURE_SLACK = timedelta(minutes=5)
VENDORS_PER_PAGE = 5
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self' https://web.telegram.org"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Backend:
    """One school's bot as the view needs it: the token its init data is signed with,
    and the database, settings, language and clock of its dispatcher."""

    token: str
    settings: Settings
    session_factory: SessionFactory
    i18n: I18n
    clock: Clock

    @classmethod
    def of(cls, bot: Bot, dp: Dispatcher) -> Backend:
        return cls(bot.token, dp["settings"], dp["session_factory"], dp["i18n"], dp["clock"])


@dataclass
class Backends:
    """The bots whose init data the view accepts: one per school of the deployment,
    added once their dispatchers are ready. Init data signed by any other bot fails."""

    items: list[Backend] = field(default_factory=list)

    def add(self, backend: Backend) -> None:
        self.items.append(backend)


class Refused(Exception):
    """401: no valid, fresh init data of one of our bots."""


def authenticate(backends: Sequence[Backend], init_data: str) -> tuple[Backend, int]:
    """The school whose bot signed the init data, and the Telegram user it names."""
    if not init_data or len(init_data) > 4096:
        raise Refused()
    for backend in backends:
        try:
            parsed: WebAppInitData = safe_parse_webapp_init_data(backend.token, init_data)
        except (ValueError, TypeError):
            continue
        now = backend.clock.now()
        signed = parsed.auth_date
        if signed.tzinfo is None:
            signed = signed.replace(tzinfo=UTC)
        if now - signed > MAX_AGE or signed - now > FUTURE_SLACK:
            raise Refused()
        if parsed.user is None:
            raise Refused()
        return backend, parsed.user.id
    raise Refused()


# --- the screens -------------------------------------------------------------------------


@dataclass(frozen=True)
class File:
    name: str
    media_type: str
    content: str


@dataclass(frozen=True)
class Screen:
    title: str
    # The chat template's own text (Telegram's HTML subset, escaped by the template).
    text: str
    links: tuple[tuple[str, str], ...] = ()  # (label, query of another screen)
    files: tuple[File, ...] = ()


@dataclass(frozen=True)
class Ask:
    session: AsyncSession
    actor: Actor
    backend: Backend
    now: datetime
    ids: dict[str, int]

    def id(self, name: str) -> int:
        return self.ids.get(name, 0)

    @property
    def channels(self) -> tuple[str, ...]:
        return self.backend.settings.consent_channels


# ✅ ❌ ⚠️ ⛔ 🔒 drawn by the page's stylesheet (view.css), as the demo's web chat does:
# a phone without an emoji font still shows them. The character stays, for copying and
# screen readers.
_EMOJI = re.compile("(\u26a0\ufe0f?|\u2705|\u274c|\u26d4\ufe0f?|\U0001f512)")
_EMOJI_CLASS = {
    "\u2705": "check",
    "\u274c": "cross",
    "\u26a0": "warning",
    "\u26d4": "stop",
    "\U0001f512": "lock",
}


def painted(text: str) -> str:
    """A chat text (already escaped HTML) with its emoji as spans the stylesheet paints."""

    def span(match: re.Match[str]) -> str:
        kind = _EMOJI_CLASS[match.group(1).replace("\ufe0f", "")]
        return f'<span class="emoji emoji-{kind}">{match.group(1)}</span>'

    return _EMOJI.sub(span, text)


def link(view: str, **ids: int) -> str:
    return "?" + urlencode({"view": view, **{k: str(v) for k, v in ids.items() if v}})


async def _child(ask: Ask, view: str) -> int | Screen:
    """The child a parent's screen is about; with several and none chosen, the choice."""
    if not ask.actor.is_guardian:
        raise DomainError()
    if ask.id("pupil"):
        return ask.id("pupil")
    children = (await linking.profile(ask.session, ask.actor.telegram_user_id)).children
    if len(children) == 1:
        return children[0].pupil_id
    links = tuple((c.full_name, link(view, pupil=c.pupil_id)) for c in children)
    return Screen(_("Mijn gegevens"), render("pick_child.j2"), links)


def _parent_links(pupil_id: int, *, but: str) -> tuple[tuple[str, str], ...]:
    every = (
        ("inzage", _("Mijn gegevens")),
        ("leveranciers", _("Wat weten de leveranciers?")),
        ("delen", _("Gegevens delen met anderen")),
        ("bekeken", _("Wie heeft de gegevens bekeken?")),
        ("kopie", _("Kopie downloaden")),
    )
    return tuple((label, link(view, pupil=pupil_id)) for view, label in every if view != but)


async def record_screen(ask: Ask) -> Screen:
    pupil_id = await _child(ask, "inzage")
    if isinstance(pupil_id, Screen):
        return pupil_id
    record = await inzage.child_record(ask.session, ask.actor, pupil_id, ask.channels)
    text = render(
        "inzage.j2", r=record, label=channel_label, label_field=field_label, vendor_pages=0
    )
    return Screen(_("Mijn gegevens"), text, _parent_links(pupil_id, but="inzage"))


async def vendors_screen(ask: Ask) -> Screen:
    """What each supplier receives, with the child's own values, five to a page."""
    pupil_id = await _child(ask, "leveranciers")
    if isinstance(pupil_id, Screen):
        return pupil_id
    record = await inzage.child_record(ask.session, ask.actor, pupil_id, ask.channels)
    pages = max(1, -(-len(record.vendors) // VENDORS_PER_PAGE))
    page = min(max(ask.id("page"), 1), pages)
    start = (page - 1) * VENDORS_PER_PAGE
    text = render(
        "inzage_vendors.j2",
        r=record,
        shares=record.vendors[start : start + VENDORS_PER_PAGE],
        page=page,
        pages=pages,
        label_field=field_label,
    )
    turn: list[tuple[str, str]] = []
    if page > 1:
        turn.append((_("« Vorige"), link("leveranciers", pupil=pupil_id, page=page - 1)))
    if page < pages:
        turn.append((_("Volgende »"), link("leveranciers", pupil=pupil_id, page=page + 1)))
    links = (*turn, *_parent_links(pupil_id, but="leveranciers"))
    return Screen(_("Wat weten de leveranciers?"), text, links)


async def sharing_screen(ask: Ask) -> Screen:
    pupil_id = await _child(ask, "delen")
    if isinstance(pupil_id, Screen):
        return pupil_id
    child, listed = await disclosures.for_child_screen(ask.session, ask.actor, pupil_id)
    text = render("sharing.j2", child=child, disclosures=listed)
    return Screen(_("Gegevens delen met anderen"), text, _parent_links(pupil_id, but="delen"))


async def accesses_screen(ask: Ask) -> Screen:
    pupil_id = await _child(ask, "bekeken")
    if isinstance(pupil_id, Screen):
        return pupil_id
    child, lines = await logbook.accesses_screen(ask.session, ask.actor, pupil_id)
    text = render("access_log.j2", child=child, lines=lines[:100])
    links = _parent_links(pupil_id, but="bekeken")
    return Screen(_("Wie heeft de gegevens bekeken?"), text, links)


async def copy_screen(ask: Ask) -> Screen:
    """Kopie downloaden: both files at once, as the chat sends both (one audit event)."""
    pupil_id = await _child(ask, "kopie")
    if isinstance(pupil_id, Screen):
        return pupil_id
    data = await export.child_export(
        ask.session,
        ask.actor,
        pupil_id,
        ask.channels,
        ask.now,
        school=ask.backend.settings.school_name,
    )
    files = tuple(
        File(
            name,
            "text/html" if name.endswith(".html") else "application/json",
            content.decode("utf-8"),
        )
        for name, content in copy_documents(data, ask.actor.locale)
    )
    text = render("secure/copy.j2")
    return Screen(_("Kopie downloaden"), text, _parent_links(pupil_id, but="kopie"), files)


def _staff(ask: Ask) -> None:
    if not ask.actor.is_staff:
        raise DomainError()


async def card_screen(ask: Ask) -> Screen:
    """A request's card, opened: audited once, as a tap on Openen in the chat is."""
    _staff(ask)
    card = await worklist.card(ask.session, ask.actor, ask.id("request"), ask.now, opened=True)
    text = render("staff_card.j2", c=card, note=None)
    links = ((_("Logboek van de leerling"), link("logboek", pupil=card.pupil_id)),)
    return Screen(_("Verzoek"), text, links)


async def log_screen(ask: Ask) -> Screen:
    _staff(ask)
    lines = await logbook.pupil_log(ask.session, ask.actor, ask.id("pupil"), ask.now)
    return Screen(_("Logboek"), render("staff_log.j2", lines=lines[:200]))


async def consent_screen(ask: Ask) -> Screen:
    """Who may not appear, per channel, for one group (all channels: a page has room)."""
    _staff(ask)
    overview = await consent.group_overview(
        ask.session, ask.actor, ask.channels, ask.now, group_id=ask.id("group")
    )
    text = render("staff_consent.j2", overview=overview, label=channel_label)
    return Screen(_("Toestemming per groep"), text)


SCREENS: dict[str, Callable[[Ask], Awaitable[Screen]]] = {
    "inzage": record_screen,
    "leveranciers": vendors_screen,
    "delen": sharing_screen,
    "bekeken": accesses_screen,
    "kopie": copy_screen,
    "kaart": card_screen,
    "logboek": log_screen,
    "toestemmingen": consent_screen,
}
IDS = ("pupil", "page", "request", "group")


# --- the web application -------------------------------------------------------------------

BACKENDS_KEY: web.AppKey[Backends] = web.AppKey("secure_view_backends", Backends)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _secured(handler: Handler) -> Handler:
    """Every answer of the view, a refusal too: never cached, nothing from another host."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            response = web.Response(status=error.status, text=error.reason)
        response.headers.update(HEADERS)
        return response

    return wrapped


async def shell(request: web.Request) -> web.Response:
    """The page without data: the same for everyone, in Dutch and English."""
    backends = request.app[BACKENDS_KEY].items
    i18n = backends[0].i18n if backends else None
    lines: dict[str, str] = {}
    for locale in ("nl", "en"):
        if i18n is None:
            break
        with i18n.context(), i18n.use_locale(locale):
            lines[locale] = _("Deze pagina opent alleen vanuit Ouderloket in Telegram.")
    page = environment().get_template("secure/page.html.j2")
    base = request.app.router["secure_api"].url_for().path
    static = request.app.router["secure_static"].url_for(name="view.js").path.rsplit("/", 1)[0]
    html = page.render(api=base, static=static, refused=lines)
    return web.Response(text=html, content_type="text/html")


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ("view.js", "view.css"):
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name)


async def view(request: web.Request) -> web.Response:
    try:
        backend, user_id = authenticate(
            request.app[BACKENDS_KEY].items, request.headers.get(INIT_HEADER, "")
        )
    except Refused:
        return _json(401, {"error": "unauthorized"})
    name = request.query.get("view", "")
    ids: dict[str, int] = {}
    for key in IDS:
        raw = request.query.get(key, "0")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            return _json(404, {"error": "not found"})
        ids[key] = int(raw)
    i18n = backend.i18n
    async with transaction(backend.session_factory) as session:
        actor = await load_actor(session, user_id, backend.settings.default_locale)
        with i18n.context(), i18n.use_locale(actor.locale):
            if not actor.is_linked:
                message = _(
                    "Uw Telegram-account is niet gekoppeld. Stuur eerst de code uit de brief."
                )
                return _json(403, {"error": message, "lang": actor.locale})
            screen_for = SCREENS.get(name)
            if screen_for is None:
                return _json(404, {"error": _("Niet gevonden."), "lang": actor.locale})
            ask = Ask(session, actor, backend, backend.clock.now(), ids)
            try:
                screen = await screen_for(ask)
            except DomainError:
                # Out of scope reads as not found, as a forged button does in the chat.
                await session.rollback()
                return _json(404, {"error": _("Niet gevonden."), "lang": actor.locale})
            fragment = (
                environment()
                .get_template("secure/view.j2")
                .render(s=screen, text=painted(screen.text))
            )
            body = {
                "lang": actor.locale,
                "title": screen.title,
                "html": fragment,
                "files": [
                    {"name": f.name, "type": f.media_type, "content": f.content}
                    for f in screen.files
                ],
                "download": _("Downloaden"),
            }
    return _json(200, body)


def path_of(url: str) -> str:
    """The path part of SECURE_VIEW_URL ("" for the server's root)."""
    return urlsplit(url).path.rstrip("/")


def mount(app: web.Application, backends: Backends, url: str) -> None:
    """The view under SECURE_VIEW_URL's path on an application about to start: the
    webhook's server, the demo's, or a server of its own beside long polling."""
    app[BACKENDS_KEY] = backends
    prefix = path_of(url)
    app.router.add_get(prefix + "/", _secured(shell), name="secure_shell")
    app.router.add_get(prefix + "/api/view", _secured(view), name="secure_api")
    app.router.add_get(prefix + "/static/{name}", _secured(static_file), name="secure_static")


class SecureViewServer:
    """The view on a port of its own, beside long polling (SECURE_VIEW_HOST/PORT)."""

    def __init__(self, settings: Settings, backends: Backends) -> None:
        self.app = web.Application()
        mount(self.app, backends, settings.secure_view_url or "")
        self.host, self.port = settings.secure_view_host, settings.secure_view_port
        self._runner = web.AppRunner(self.app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("secure view listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()
