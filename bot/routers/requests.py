"""Request forms of every kind, and Mijn verzoeken.

A request is built over the steps its kind declares (flows.requests.rules.KINDS:
buttons, then typed text), kept in the FSM as a typed Draft; each kind's template
(bot/templates/kinds/) words them, so a new kind needs no handler here. Nothing is
stored until the parent presses Versturen. /annuleren or Annuleren stops at any step,
and any other command or menu button leaves the form as well."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, Update
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import keyboards
from bot.callbacks import RequestAction, RequestCb
from bot.config import Settings
from bot.filters import pressed, typed_command
from bot.render import kind_text, kind_words, render, request_title
from bot.replies import (
    answer_data,
    below,
    chosen_child,
    data_until,
    leave_form,
    reply_data,
    show,
    show_data,
)
from flows import requests
from flows.actor import Actor
from flows.clock import Clock
from flows.errors import InvalidInput
from storage.models import RequestKind


class RequestForm(StatesGroup):
    choosing = State()  # a step answered with a button
    writing = State()  # a typed step: a value, or the request's text
    message = State()  # a message added to an open request


START_ACTIONS = (RequestAction.START, RequestAction.ASK_TYPED)


def action_is_ask(callback_data: RequestCb) -> bool:
    """ "Als vraag versturen" under text typed at the menu: a question, prefilled."""
    return callback_data.action == RequestAction.ASK_TYPED


# The FSM data after a form was sent: its reference, so a late tap under that form says
# where it went instead of that the button no longer works.
SENT = "sent_reference"


async def stale(query: CallbackQuery, state: FSMContext | None = None) -> None:
    sent = (await state.get_data()).get(SENT) if state is not None else None
    if sent:
        await query.answer(
            _(
                "Dit verzoek is al verstuurd als {reference}. U vindt het onder Mijn verzoeken."
            ).format(reference=sent),
            show_alert=True,
        )
        return
    await query.answer(
        _("Deze knop werkt niet meer. Kies opnieuw in het menu: /menu"), show_alert=True
    )


def _error(reason: str, limit: int = requests.MAX_TEXT) -> str:
    return render("request_error.j2", reason=reason, limit=limit)


async def _draft(state: FSMContext) -> requests.Draft | None:
    return requests.Draft.from_dict(await state.get_data())


# --- leaving a form ----------------------------------------------------------------


async def cancel_command(message: Message, state: FSMContext, actor: Actor) -> None:
    had_form = await state.get_state() is not None
    await state.clear()
    markup = keyboards.menu_for(actor) if actor.is_linked else None
    await message.answer(render("cancelled.j2", had_form=had_form), reply_markup=markup)


async def cancel_button(query: CallbackQuery, state: FSMContext, actor: Actor) -> None:
    if await state.get_state() is None and await _draft(state) is None:
        # Under a form that was sent or left: cancelling it now would be a lie.
        await stale(query, state)
        return
    await state.clear()
    await show(query, render("cancelled.j2", had_form=True), keyboards.menu_for(actor))


# --- the form: one step after another, as the kind's row in KINDS declares them ------


async def _step_screen(
    session: AsyncSession, actor: Actor, state: FSMContext, draft: requests.Draft, clock: Clock
) -> tuple[str, keyboards.InlineKeyboardMarkup, bool]:
    """The draft's next step (or its confirmation), kept in the FSM: the text, its
    keyboard, and whether it shows the child's stored data."""
    step = await requests.offer(session, actor, draft)
    await state.set_data(draft.to_dict())
    if step.name is None:
        await state.set_state(None)
        request = await requests.preview(session, actor, draft, clock.now())
        others = await requests.others_linked(session, actor, draft.pupil_id)
        text = render("request_confirm.j2", r=request, child=step.child, others_linked=others)
        shareable = requests.kind_of(draft.kind).shareable
        return text, keyboards.confirm_request(shareable, draft.shared), True
    text = kind_text(draft.kind, "prompt", step=step, d=draft)
    if step.is_choice:
        await state.set_state(RequestForm.choosing)
        options = [
            (
                kind_words(draft.kind, "option", step_name=step.name, option=o.value)
                or o.name
                or o.value,
                keyboards.choose_option(step.name, i),
            )
            for i, o in enumerate(step.options)
        ]
        extra = None
        if step.instead is not None:
            label = kind_words(step.instead, "instead")
            extra = keyboards.instead(label, step.instead, draft.pupil_id)
        return text, keyboards.choices(options, extra=extra), step.shows_stored
    await state.set_state(RequestForm.writing)
    optional = step.name == "text" and not step.text_required
    if not text:
        text = render("request_prompt.j2", step="explanation" if optional else "explain")
    skip = RequestCb(action=RequestAction.SKIP) if optional else None
    return text, keyboards.only_cancel(skip), step.shows_stored


async def _next_step(
    event: CallbackQuery | Message,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    draft: requests.Draft,
    settings: Settings,
    clock: Clock,
) -> None:
    text, markup, data = await _step_screen(session, actor, state, draft, clock)
    if data:
        await reply_data(event, session, text, markup, data_until(settings, clock))
    elif isinstance(event, CallbackQuery):
        await show(event, text, markup)
    else:
        await event.answer(text, reply_markup=markup)


async def start_request(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    ask = action_is_ask(callback_data)
    prefill = (await state.get_data()).get("prefill") if ask else None
    try:
        kind = requests.kind_of(RequestKind.QUESTION if ask else callback_data.value).kind
    except requests.UnknownKind:
        await stale(query)  # a button of a kind this version does not have
        return
    await state.clear()
    await state.set_state(RequestForm.choosing)
    if prefill:
        await state.set_data({"prefill": prefill})
    chosen = await chosen_child(
        query,
        session,
        actor,
        callback_data.pupil_id,
        lambda pid: RequestCb(action=callback_data.action, pupil_id=pid, value=callback_data.value),
    )
    if chosen is None:
        return
    # Typed at the menu and offered as a question: the text is there already.
    draft = requests.Draft(kind.value, chosen, text=prefill or None)
    await _next_step(query, session, actor, state, draft, settings, clock)


async def chosen(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    draft = await _draft(state)
    name, _sep, index = callback_data.value.partition(".")
    if draft is None or not index.isdigit():
        await stale(query)
        return
    try:
        draft = await requests.choose(session, actor, draft, name, int(index))
    except InvalidInput:
        await stale(query)  # a button of a step already answered, or an option gone
        return
    await _next_step(query, session, actor, state, draft, settings, clock)


async def typed(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    clock: Clock,
    settings: Settings,
) -> None:
    """Every typed step: validates, keeps the form on a mistake, moves on when right."""
    if message.text is None:
        await message.answer(_error("not_text"), reply_markup=keyboards.only_cancel())
        return
    if await state.get_state() == RequestForm.message.state:
        await _message_typed(message, session, actor, state, clock, settings, message.text)
        return
    draft = await _draft(state)
    if draft is None:
        await state.clear()
        return
    step = await requests.offer(session, actor, draft)
    try:
        draft = await requests.write(
            session, actor, draft, message.text, clock.now(), message.message_id
        )
    except InvalidInput as error:
        # Form plumbing: a typing mistake is answered in the form, which stays open.
        if error.reason == "choose":
            await message.answer(
                render("request_prompt.j2", step="choose"), reply_markup=keyboards.only_cancel()
            )
            return
        limit = requests.MAX_NAME if step.name not in (None, "text") else requests.MAX_TEXT
        optional = step.name == "text" and not step.text_required
        skip = RequestCb(action=RequestAction.SKIP) if optional else None
        await message.answer(_error(error.reason, limit), reply_markup=keyboards.only_cancel(skip))
        return
    if step.is_choice:
        # Text at a choice that takes it (the deletion's reason): kept, the choice stays.
        _text, markup, _data = await _step_screen(session, actor, state, draft, clock)
        kept = kind_text(draft.kind, "typed_kept", step=step, d=draft)
        await message.answer(str(kept), reply_markup=markup)
        return
    await _next_step(message, session, actor, state, draft, settings, clock)


async def _message_typed(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    clock: Clock,
    settings: Settings,
    text: str,
) -> None:
    request_id = int((await state.get_data())["request_id"])
    try:
        await requests.add_message(
            session, actor, request_id, text, clock.now(), message.message_id
        )
    except InvalidInput as error:
        await message.answer(_error(error.reason), reply_markup=keyboards.only_cancel())
        return
    await state.clear()
    view = await requests.get_for_guardian(session, actor, request_id)
    await answer_data(
        message,
        session,
        render("request_view.j2", v=view, note="added"),
        keyboards.request_view(view.request.id or 0, view.is_open, view.can_withdraw),
        data_until(settings, clock),
    )


async def skip(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    draft = await _draft(state)
    if draft is None or await state.get_state() != RequestForm.writing.state:
        await stale(query)
        return
    try:
        draft = requests.skip(draft, await requests.offer(session, actor, draft))
    except InvalidInput:
        await stale(query)
        return
    await _next_step(query, session, actor, state, draft, settings, clock)


async def share(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    """On a shareable request's confirmation: also for the other guardian, or only me."""
    draft = await _draft(state)
    if await state.get_state() is not None or draft is None or draft.text is None:
        await stale(query)
        return
    draft.shared = callback_data.value == "1"
    await _next_step(query, session, actor, state, draft, settings, clock)


async def send(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    clock: Clock,
    event_update: Update,
) -> None:
    draft = await _draft(state)
    if draft is None or draft.text is None or await state.get_state() is not None:
        await stale(query, state)  # already sent, or the form is gone
        return
    # The form is done whatever happens: a refusal (the child's data changed since)
    # is answered by bot.failures.
    await state.clear()
    request = await requests.create(session, actor, draft, clock.now(), event_update.update_id)
    await state.set_data({SENT: request.reference})
    assignee = await requests.assignee_of(session, request)
    text = render(
        "request_sent.j2",
        reference=request.reference,
        kind=draft.kind,
        assignee_name=assignee.name,
        assignee_role=assignee.role.value,
        due=request.due_at,
    )
    await show(query, text, keyboards.request_sent())


# --- Mijn verzoeken -----------------------------------------------------------------


async def mine(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    await state.clear()
    summaries = await requests.list_for_guardian(session, actor)
    shown = summaries[:20]
    # Named by what it is and whom, so that five requests about one child read apart.
    entries = [
        (f"{request_title(s.kind, s.about)} · {s.pupil_name.split()[0]}", s.request_id)
        for s in shown
    ]
    text = render("requests_list.j2", summaries=shown)
    markup = keyboards.request_list(entries)
    if callback_data.value == keyboards.BELOW:
        await below(query, text, markup)
    else:
        await show(query, text, markup)


async def open_request(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    await state.clear()
    action = callback_data.action
    view = await requests.get_for_guardian(session, actor, callback_data.request_id)
    request_id = callback_data.request_id
    if action == RequestAction.ADD_MESSAGE:
        if not view.is_open:
            await show(query, _error("closed"), keyboards.request_view(request_id, False, False))
            return
        await state.set_state(RequestForm.message)
        await state.set_data({"request_id": request_id})
        text = render("request_prompt.j2", step="message", reference=view.reference)
        await show(query, text, keyboards.only_cancel())
    elif action == RequestAction.WITHDRAW:
        if not view.can_withdraw:
            await query.answer(_error("decided"), show_alert=True)
            return
        await show_data(
            query,
            session,
            render("request_view.j2", v=view, note="confirm_withdraw"),
            keyboards.confirm_withdraw(request_id),
            data_until(settings, clock),
        )
    else:
        await show_data(
            query,
            session,
            render("request_view.j2", v=view, note=None),
            keyboards.request_view(request_id, view.is_open, view.can_withdraw),
            data_until(settings, clock),
        )


async def withdraw(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    clock: Clock,
    settings: Settings,
) -> None:
    await requests.withdraw(session, actor, callback_data.request_id, clock.now())
    view = await requests.get_for_guardian(session, actor, callback_data.request_id)
    await show_data(
        query,
        session,
        render("request_view.j2", v=view, note="withdrawn"),
        keyboards.request_view(callback_data.request_id, view.is_open, view.can_withdraw),
        data_until(settings, clock),
    )


def leave_router() -> Router:
    """A press of any other button while the parent's form is open leaves the form. A
    router of its own, just ahead of the form's: the form's router then takes nothing
    but its own buttons, and is passed over on the prefix of any other (bot.filters.gate)."""
    router = Router(name=f"{__name__}.leave")
    router.callback_query.register(leave_form, StateFilter(RequestForm), ~pressed(RequestCb))
    return router


def create_router() -> Router:
    router = Router(name=__name__)
    in_form = StateFilter(RequestForm)
    router.message.register(cancel_command, Command("annuleren", "cancel"))
    router.message.register(leave_form, in_form, typed_command)
    router.message.register(typed, in_form)
    router.callback_query.register(
        cancel_button, pressed(RequestCb, F.action == RequestAction.CANCEL)
    )
    router.callback_query.register(start_request, pressed(RequestCb, F.action.in_(START_ACTIONS)))
    router.callback_query.register(chosen, pressed(RequestCb, F.action == RequestAction.CHOOSE))
    router.callback_query.register(skip, pressed(RequestCb, F.action == RequestAction.SKIP))
    router.callback_query.register(send, pressed(RequestCb, F.action == RequestAction.SEND))
    router.callback_query.register(share, pressed(RequestCb, F.action == RequestAction.SHARE))
    router.callback_query.register(mine, pressed(RequestCb, F.action == RequestAction.MINE))
    router.callback_query.register(
        open_request,
        pressed(
            RequestCb,
            F.action.in_((RequestAction.OPEN, RequestAction.ADD_MESSAGE, RequestAction.WITHDRAW)),
        ),
    )
    router.callback_query.register(
        withdraw, pressed(RequestCb, F.action == RequestAction.WITHDRAW_CONFIRM)
    )
    return router
