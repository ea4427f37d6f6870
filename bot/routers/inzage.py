"""Mijn gegevens: what the school holds about a child."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import BufferedInputFile, CallbackQuery
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards, secure_links
from bot.callbacks import AccessLogCb, InzageCb
from bot.config import Settings
from bot.copy import copy_documents
from bot.filters import pressed
from bot.labels import channel_label, field_label
from bot.render import clock_time, render
from bot.replies import chosen_child, show, show_data, show_new
from flows import export, inzage, logbook
from flows.actor import Actor, Wanted
from flows.clock import Clock
from storage.expiry import schedule

# Up to this many suppliers are shown in the record itself; more get pages of their own.
INLINE_VENDORS = 3
VENDORS_PER_PAGE = 5


def alongside(data: str) -> Wanted | None:
    """Mijn gegevens and its pages read the child's record in the update's first statement
    (bot.middlewares); a copy to download reads it for itself."""
    pressed = InzageCb.unpack(data)
    return None if pressed.download else (inzage.RECORD, pressed.pupil_id)


async def view(
    query: CallbackQuery,
    callback_data: InzageCb,
    bot: Bot,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    clock: Clock,
) -> None:
    if secure_links.enabled():
        # The data is in the secure view; the chat gets a line and its button.
        await _secure(query, "copy" if callback_data.download else "inzage", callback_data)
        return
    pupil_id = await chosen_child(
        query, session, actor, callback_data.pupil_id, lambda pid: InzageCb(pupil_id=pid)
    )
    if pupil_id is None:
        return
    if callback_data.download:
        await send_copy(bot, query, session, actor, settings, clock, pupil_id)
        return
    record = await inzage.child_record(session, actor, pupil_id, settings.consent_channels)
    until = clock.now() + settings.data_view_ttl
    # A school with many suppliers does not fit in one message (Telegram: 4096
    # characters): the record names them, and their data follows a few per page.
    shares = record.vendors
    pages = 0 if len(shares) <= INLINE_VENDORS else -(-len(shares) // VENDORS_PER_PAGE)
    if callback_data.page and pages:
        page = min(callback_data.page, pages)
        start = (page - 1) * VENDORS_PER_PAGE
        text = render(
            "inzage_vendors.j2",
            r=record,
            shares=shares[start : start + VENDORS_PER_PAGE],
            page=page,
            pages=pages,
            label_field=field_label,
        )
        markup = keyboards.inzage_vendors(pupil_id, page, pages)
    else:
        text = render(
            "inzage.j2",
            r=record,
            label=channel_label,
            label_field=field_label,
            vendor_pages=pages,
        )
        markup = keyboards.inzage(pupil_id, record.has_special_category, pages)
    await show_data(query, session, text, markup, until, turn_page=bool(callback_data.page))


async def _secure(query: CallbackQuery, what: str, data: InzageCb | AccessLogCb) -> None:
    views = {"copy": ("kopie", _("Kopie downloaden")), "accesses": ("bekeken", "")}
    view, label = views.get(what, ("inzage", _("Mijn gegevens")))
    label = label or _("Wie heeft de gegevens bekeken?")
    page = data.page if isinstance(data, InzageCb) else 0
    if page:
        view, label = "leveranciers", _("Wat weten de leveranciers?")
    markup = keyboards.secure_screen(label, view, pupil=data.pupil_id, page=page)
    await show_new(query, render("secure_line.j2", what=what), markup)


async def send_copy(
    bot: Bot,
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    clock: Clock,
    pupil_id: int,
) -> None:
    """Kopie downloaden: the same data as a readable page and as JSON, both of which leave
    the chat after DATA_VIEW_TTL like the inzage itself."""
    now = clock.now()
    data = await export.child_export(
        session, actor, pupil_id, settings.consent_channels, now, school=settings.school_name
    )
    await query.answer()
    until = now + settings.data_view_ttl
    leaves = _("Sla het bestand op: het verdwijnt om {time} uur uit deze chat.").format(
        time=clock_time(until)
    )
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    # Two files with one caption looked like the same file twice: say what each is for.
    purposes = {
        ".html": _("Om te lezen of af te drukken: open dit bestand in uw browser."),
        ".json": _(
            "Voor een ander systeem of programma (JSON): dezelfde gegevens, "
            "leesbaar voor een computer."
        ),
    }
    for filename, content in copy_documents(data, actor.locale):
        purpose = next((p for ext, p in purposes.items() if filename.endswith(ext)), "")
        sent = await bot.send_document(
            chat_id,
            BufferedInputFile(content, filename=filename),
            caption=f"{purpose}\n{leaves}".strip(),
        )
        schedule(session, chat_id, sent.message_id, until)


async def accesses(
    query: CallbackQuery, callback_data: AccessLogCb, session: AsyncSession, actor: Actor
) -> None:
    """Wie heeft de gegevens van mijn kind bekeken of gewijzigd? Roles and dates only."""
    if secure_links.enabled():
        await _secure(query, "accesses", callback_data)
        return
    child, lines = await logbook.accesses_screen(session, actor, callback_data.pupil_id)
    text = render("access_log.j2", child=child, lines=lines[:30])
    back = InzageCb(pupil_id=callback_data.pupil_id)
    await show(query, text, keyboards.back_to(back))


def create_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(accesses, pressed(AccessLogCb))
    router.callback_query.register(view, pressed(InzageCb))
    return router
