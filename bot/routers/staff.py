"""The staff side: the queue, a request card with its actions, the consent overview per
group, the director's overdue and undelivered lists, and a pupil's audit trail.

Texts a member of staff types (an answer, a reason) are kept in the FSM until sent;
/annuleren (handled with the parents' forms) or Annuleren stops at any step."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards, secure_links
from bot.callbacks import StaffAction, StaffCb
from bot.config import Settings
from bot.filters import pressed, typed_command
from bot.labels import channel_label
from bot.render import action_text, fits, render
from bot.replies import leave_form, reply_data, show, show_data, show_new
from flows import checklist, consent, delivery, erasure, logbook
from flows.actor import Actor
from flows.clock import Clock
from flows.errors import NotAllowed
from flows.requests import Action, commands, worklist


class StaffForm(StatesGroup):
    text = State()  # an answer, a reason or a message, for the command in the FSM data
    confirm = State()  # ... typed, shown as it will be, waiting for its confirmation
    search = State()  # a pupil's name, for the audit trail


# async: see bot.filters.
async def _is_staff(event: Message | CallbackQuery, actor: Actor) -> bool:
    return actor.is_staff


# --- lists --------------------------------------------------------------------------


async def _queue_screen(
    session: AsyncSession, actor: Actor, clock: Clock, *, overdue_only: bool = False
) -> tuple[str, keyboards.InlineKeyboardMarkup]:
    now = clock.now()
    items = await (worklist.overdue if overdue_only else worklist.queue)(session, actor, now)
    shown = items[:20]
    text = render("staff_queue.j2", items=shown, total=len(items), overdue_only=overdue_only)
    return text, keyboards.staff_queue(shown)


async def in_force(
    query: CallbackQuery, session: AsyncSession, actor: Actor, clock: Clock, state: FSMContext
) -> None:
    """The director's restrictions and upheld objections in force, each opening its card
    (where a restriction is lifted)."""
    await state.clear()
    items = await worklist.in_force(session, actor, clock.now())
    shown = items[:20]
    text = render("staff_in_force.j2", items=shown, more=len(items) - len(shown))
    await show(query, text, keyboards.staff_queue(shown))


async def queue_command(
    message: Message, session: AsyncSession, actor: Actor, clock: Clock, state: FSMContext
) -> None:
    await state.clear()
    text, markup = await _queue_screen(session, actor, clock)
    await message.answer(text, reply_markup=markup)


async def queue_button(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    state: FSMContext,
) -> None:
    await state.clear()
    overdue_only = callback_data.action == StaffAction.OVERDUE
    text, markup = await _queue_screen(session, actor, clock, overdue_only=overdue_only)
    await show(query, text, markup)


async def consent_overview(
    event: Message | CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    clock: Clock,
    callback_data: StaffCb | None = None,
) -> None:
    """One group per message (a whole school does not fit in one): with several groups,
    first the groups with counts only, then the chosen group's names."""
    channels = settings.consent_channels
    group_id = callback_data.group_id if callback_data is not None else 0
    several = True
    if not group_id:
        groups = await consent.group_summaries(session, actor, channels)
        several = len(groups) > 1
        if several or not groups:
            text = render("staff_consent_groups.j2", groups=groups)
            markup = keyboards.staff_consent_groups(groups)
            if isinstance(event, CallbackQuery):
                await show(event, text, markup)
            else:
                await event.answer(text, reply_markup=markup)
            return
        group_id = groups[0].group_id
    if secure_links.enabled():
        below = (
            keyboards.staff_consent_back() if several else keyboards.staff_back()
        ).inline_keyboard
        label = _("Wie mag niet op beeld?")
        markup = keyboards.secure_screen(label, "toestemmingen", group=group_id, below=below)
        text = render("secure_line.j2", what="consent")
        if isinstance(event, CallbackQuery):
            await show_new(event, text, markup)
        else:
            await event.answer(text, reply_markup=markup)
        return
    channel = callback_data.channel if callback_data is not None else 0
    if not 0 <= channel <= len(channels):
        channel = 0
    asked = (channels[channel - 1],) if channel else channels
    overview = await consent.group_overview(session, actor, asked, clock.now(), group_id=group_id)
    text = render("staff_consent.j2", overview=overview, label=channel_label)
    if channel or not fits(text):
        # A large group: one channel per message, with buttons for the others.
        channel = channel or 1
        shown = [g for g in overview if g.channel == channels[channel - 1]] or overview[:1]
        text = render("staff_consent.j2", overview=shown, label=channel_label)
        markup = keyboards.staff_consent_channels(group_id, channels, channel, several)
    else:
        markup = keyboards.staff_consent_back() if several else keyboards.staff_back()
    await reply_data(event, session, text, markup, clock.now() + settings.data_view_ttl)


async def undelivered(
    query: CallbackQuery, session: AsyncSession, actor: Actor, clock: Clock
) -> None:
    rows = await delivery.undeliverable(session, actor, clock.now())
    text = render("staff_undelivered.j2", rows=rows[:12], more=max(0, len(rows) - 12))
    await show(query, text, keyboards.staff_back())


# --- a request ----------------------------------------------------------------------


async def _card_text(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    clock: Clock,
    note: str | None = None,
    *,
    opened: bool = False,
) -> tuple[str, keyboards.InlineKeyboardMarkup]:
    if secure_links.enabled():
        # The card's data is in the secure view, which audits its opening; the chat keeps
        # the reference and the actions.
        card = await worklist.card(session, actor, request_id, clock.now())
        text = render(
            "secure_line.j2",
            what="card",
            reference=card.request.reference,
            note=note,
            r=card.request,
        )
        actions = keyboards.staff_card(card).inline_keyboard
        label = _("Verzoek bekijken")
        return text, keyboards.secure_screen(label, "kaart", request=request_id, below=actions)
    card = await worklist.card(session, actor, request_id, clock.now(), opened=opened)
    return render("staff_card.j2", c=card, note=note), keyboards.staff_card(card)


async def open_card(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    await state.clear()
    text, markup = await _card_text(session, actor, callback_data.request_id, clock, opened=True)
    await show_data(query, session, text, markup, clock.now() + settings.data_view_ttl)


def _call(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    clock: Clock,
    settings: Settings,
    text: str = "",
) -> commands.Call:
    return commands.Call(
        session, actor, request_id, clock.now(), text, channels=settings.consent_channels
    )


async def command(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    """Every command on a request, as its row in the table says: ask for its text, show
    what it will do and ask to confirm, or do it."""
    action, request_id = callback_data.command, callback_data.request_id
    if action is None:
        raise NotAllowed()
    row = commands.COMMANDS[action]
    call = _call(session, actor, request_id, clock, settings)
    text = ""
    if callback_data.confirmed:
        # The confirmation of what was shown: its text waits in the FSM, for this request.
        # Out of scope reads as not found, as every other button of the card does.
        await commands.check(call, action)
        data = await state.get_data()
        waiting = await state.get_state() == StaffForm.confirm.state
        if not waiting or (data.get("action"), data.get("request_id")) != (action, request_id):
            raise NotAllowed()
        text = str(data.get("text", ""))
    elif row.takes_text:
        await commands.check(call, action)
        card = await worklist.card(session, actor, request_id, clock.now())
        await state.set_state(StaffForm.text)
        await state.set_data({"action": action.value, "request_id": request_id})
        prompt = action_text(action, "prompt", card.request, pupil=card.pupil_name)
        await show(query, prompt, keyboards.staff_cancel())
        return
    elif (await commands.preview(call, action)).confirm:
        await _confirm(query, session, actor, action, request_id, clock, settings, state)
        return
    await state.clear()
    await _run(query, session, actor, action, request_id, clock, settings, text)


async def _confirm(
    event: CallbackQuery | Message,
    session: AsyncSession,
    actor: Actor,
    action: Action,
    request_id: int,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
    text: str = "",
) -> None:
    """The card, what the command will do, and the text the parents will read; nothing
    changes until the member of staff confirms."""
    call = _call(session, actor, request_id, clock, settings, text)
    told = (await commands.preview(call, action)).parents_told
    await state.set_state(StaffForm.confirm)
    await state.set_data({"action": action.value, "request_id": request_id, "text": text})
    card = await worklist.card(session, actor, request_id, clock.now())
    if secure_links.enabled():
        # The card and the values are in the secure view; the chat asks only to confirm.
        reference = card.request.reference
        screen = render(
            "secure_line.j2", what="confirm", action=action, r=card.request, reference=reference
        )
        below = keyboards.confirm_command(action, card.request, "").inline_keyboard
        markup = keyboards.secure_screen(
            _("Verzoek bekijken"), "kaart", request=request_id, below=below
        )
        await show_or_answer(event, screen, markup)
        return
    screen = render("staff_confirm.j2", action=action, c=card, text=text, told=told)
    markup = keyboards.confirm_command(action, card.request, card.pupil_name)
    await reply_data(event, session, screen, markup, clock.now() + settings.data_view_ttl)


async def show_or_answer(
    event: CallbackQuery | Message, text: str, markup: keyboards.InlineKeyboardMarkup
) -> None:
    if isinstance(event, CallbackQuery):
        await show(event, text, markup)
    else:
        await event.answer(text, reply_markup=markup)


async def _run(
    event: CallbackQuery | Message,
    session: AsyncSession,
    actor: Actor,
    action: Action,
    request_id: int,
    clock: Clock,
    settings: Settings,
    text: str = "",
) -> None:
    row = commands.COMMANDS[action]
    outcome = await row.run(_call(session, actor, request_id, clock, settings, text))
    card_text, markup = await _card_text(session, actor, request_id, clock, action)
    if isinstance(outcome, commands.Resolution) and not secure_links.enabled():
        card_text += "\n\n" + render("staff_resolution.j2", r=outcome)
    if not row.stays:
        markup = keyboards.staff_back()  # the card is no longer theirs to act on
        if secure_links.enabled():
            below = markup.inline_keyboard
            label = _("Verzoek bekijken")
            markup = keyboards.secure_screen(label, "kaart", request=request_id, below=below)
    await reply_data(event, session, card_text, markup, clock.now() + settings.data_view_ttl)


async def typed_text(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    """The text of a command; typed again while its confirmation waits, it replaces the
    text shown (a command without text shows its confirmation again)."""
    data = await state.get_data()
    action, request_id = Action(data["action"]), int(data["request_id"])
    row = commands.COMMANDS[action]
    text = message.text
    if text is None:
        await message.answer(render("request_error.j2", reason="not_text", limit=0))
        return
    text = text if row.takes_text else ""
    # A refused text (bot/failures.py) keeps the step open, to be typed again.
    call = _call(session, actor, request_id, clock, settings, text)
    if (await commands.preview(call, action)).confirm:
        await _confirm(message, session, actor, action, request_id, clock, settings, state, text)
        return
    await state.clear()
    await _run(message, session, actor, action, request_id, clock, settings, text)


async def cancel_form(query: CallbackQuery, actor: Actor, state: FSMContext) -> None:
    await state.clear()
    await show(query, render("cancelled.j2", had_form=True), keyboards.menu_for(actor))


# --- audit trail ----------------------------------------------------------------------


async def log_start(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    if callback_data.pupil_id and secure_links.enabled():
        await state.clear()
        below = keyboards.staff_log(callback_data.pupil_id, actor.is_director).inline_keyboard
        markup = keyboards.secure_screen(
            _("Logboek bekijken"), "logboek", pupil=callback_data.pupil_id, below=below
        )
        await show_new(query, render("secure_line.j2", what="log"), markup)
        return
    if callback_data.pupil_id:
        now = clock.now()
        lines = await logbook.pupil_log(session, actor, callback_data.pupil_id, now)
        await state.clear()
        text = render("staff_log.j2", lines=lines[:25])
        markup = keyboards.staff_log(callback_data.pupil_id, actor.is_director)
        await show_data(query, session, text, markup, now + settings.data_view_ttl)
        return
    await state.set_state(StaffForm.search)
    await show(query, render("staff_prompt.j2", action="search", c=None), keyboards.staff_cancel())


async def log_command(message: Message, state: FSMContext) -> None:
    await state.set_state(StaffForm.search)
    await message.answer(
        render("staff_prompt.j2", action="search", c=None), reply_markup=keyboards.staff_cancel()
    )


async def log_search(
    message: Message, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    found = await logbook.find_pupils(session, actor, (message.text or "")[:100])
    await state.clear()
    await message.answer(
        render("staff_found.j2", found=found), reply_markup=keyboards.staff_pupils(found)
    )


# --- the director: the ParnasSys checklist, erasing a child ------------------------------


async def _tasks_screen(
    query: CallbackQuery, session: AsyncSession, actor: Actor, clock: Clock
) -> None:
    items = await checklist.open_items(session, actor, clock.now())
    shown = items[:15]
    text = render("staff_tasks.j2", items=shown, more=len(items) - len(shown))
    await show(query, text, keyboards.staff_tasks(shown))


async def tasks(
    query: CallbackQuery, session: AsyncSession, actor: Actor, clock: Clock, state: FSMContext
) -> None:
    await state.clear()
    await _tasks_screen(query, session, actor, clock)


async def task_done(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
) -> None:
    """Ticked from the list (back to the list) or from the request's card (the card)."""
    await checklist.tick(session, actor, callback_data.request_id, clock.now())
    if callback_data.pupil_id:  # the card's button carries the child
        text, markup = await _card_text(session, actor, callback_data.request_id, clock)
        await show_data(query, session, text, markup, clock.now() + settings.data_view_ttl)
        return
    await _tasks_screen(query, session, actor, clock)


async def erase_ask(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    await state.clear()
    preview = await erasure.preview(session, actor, callback_data.pupil_id)
    text = render("staff_erase.j2", step="confirm", p=preview)
    await show(query, text, keyboards.confirm_erase(callback_data.pupil_id))


async def erase_confirmed(
    query: CallbackQuery,
    callback_data: StaffCb,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
) -> None:
    erased = await erasure.erase_child(session, actor, callback_data.pupil_id, clock.now())
    await show(query, render("staff_erase.j2", step="done", e=erased), keyboards.staff_back())


def create_router() -> Router:
    router = Router(name=__name__)
    # Staff only: for anyone else these buttons and commands fall through to the fallback.
    router.message.filter(_is_staff)
    router.callback_query.filter(_is_staff)
    in_form = StateFilter(StaffForm)
    router.message.register(leave_form, in_form, typed_command)
    router.callback_query.register(leave_form, in_form, ~pressed(StaffCb))
    router.message.register(typed_text, StateFilter(StaffForm.text, StaffForm.confirm))
    router.message.register(log_search, StateFilter(StaffForm.search))
    router.message.register(queue_command, Command("wachtrij"))
    router.message.register(consent_overview, Command("toestemmingen"))
    router.message.register(log_command, Command("logboek"))
    router.callback_query.register(cancel_form, pressed(StaffCb, F.action == StaffAction.CANCEL))
    router.callback_query.register(
        queue_button, pressed(StaffCb, F.action.in_((StaffAction.QUEUE, StaffAction.OVERDUE)))
    )
    router.callback_query.register(
        consent_overview, pressed(StaffCb, F.action == StaffAction.CONSENT)
    )
    router.callback_query.register(
        undelivered, pressed(StaffCb, F.action == StaffAction.UNDELIVERED)
    )
    router.callback_query.register(open_card, pressed(StaffCb, F.action == StaffAction.OPEN))
    router.callback_query.register(command, pressed(StaffCb, F.action == StaffAction.COMMAND))
    router.callback_query.register(log_start, pressed(StaffCb, F.action == StaffAction.LOG))
    router.callback_query.register(tasks, pressed(StaffCb, F.action == StaffAction.TASKS))
    router.callback_query.register(in_force, pressed(StaffCb, F.action == StaffAction.IN_FORCE))
    router.callback_query.register(task_done, pressed(StaffCb, F.action == StaffAction.TASK_DONE))
    router.callback_query.register(erase_ask, pressed(StaffCb, F.action == StaffAction.ERASE))
    router.callback_query.register(
        erase_confirmed, pressed(StaffCb, F.action == StaffAction.ERASE_CONFIRM)
    )
    return router
