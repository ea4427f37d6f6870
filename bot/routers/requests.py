"""Correction, deletion, question and formal inzage requests, and Mijn verzoeken.

A request is built over a few steps (buttons, then typed text) kept in the FSM; nothing
is stored until the parent presses Versturen. /annuleren or Annuleren stops at any step,
and any other command or menu button leaves the form as well."""

from __future__ import annotations

from typing import Any

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
from bot.labels import deletable_label, field_label, ground_label
from bot.render import render
from bot.replies import (
    answer_data,
    chosen_child,
    data_until,
    leave_form,
    not_found,
    show,
    show_data,
)
from flows import requests
from flows.actor import Actor
from flows.clock import Clock
from flows.errors import InvalidInput, NotAllowed, NotFound
from flows.requests import UnknownKind
from flows.requests.transitions import AlreadyHandled
from storage.models import DeletionGround, RequestKind, StaffRole


class RequestForm(StatesGroup):
    choosing = State()  # a step answered with a button (child, field, what, reason, whom)
    value = State()  # correction: the right value
    explanation = State()  # correction, deletion, access: an explanation (often optional)
    question = State()  # the question itself
    message = State()  # a message added to an open request


START_ACTIONS = (
    RequestAction.CORRECTION,
    RequestAction.DELETION,
    RequestAction.QUESTION,
    RequestAction.ASK_TYPED,
)


# The form each start button opens.
_START_KINDS: dict[RequestAction, RequestKind] = {
    RequestAction.CORRECTION: RequestKind.CORRECTION,
    RequestAction.DELETION: RequestKind.DELETION,
    RequestAction.QUESTION: RequestKind.QUESTION,
}
_ADDRESSEE_LABELS = {
    StaffRole.TEACHER.value: lambda: _("De leerkracht"),
    StaffRole.DIRECTOR.value: lambda: _("De directeur"),
}


def action_is_ask(callback_data: RequestCb) -> bool:
    """ "Als vraag versturen" under text typed at the menu: a question, prefilled."""
    return callback_data.action == RequestAction.ASK_TYPED


async def stale(query: CallbackQuery) -> None:
    await query.answer(
        _("Deze knop werkt niet meer. Kies opnieuw in het menu: /menu"), show_alert=True
    )


def _error(reason: str, state_name: str | None = None) -> str:
    limit = requests.MAX_NAME if state_name == RequestForm.value.state else requests.MAX_TEXT
    return render("request_error.j2", reason=reason, limit=limit)


# --- leaving a form ----------------------------------------------------------------


async def cancel_command(message: Message, state: FSMContext, actor: Actor) -> None:
    had_form = await state.get_state() is not None
    await state.clear()
    markup = keyboards.menu_for(actor) if actor.is_linked else None
    await message.answer(render("cancelled.j2", had_form=had_form), reply_markup=markup)


async def cancel_button(query: CallbackQuery, state: FSMContext, actor: Actor) -> None:
    if await state.get_state() is None and "kind" not in await state.get_data():
        # Under a form that was sent or left: cancelling it now would be a lie.
        await stale(query)
        return
    await state.clear()
    await show(query, render("cancelled.j2", had_form=True), keyboards.menu_for(actor))


# --- starting: which child, then the first choice -----------------------------------


async def start_request(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    prefill = (await state.get_data()).get("prefill") if action_is_ask(callback_data) else None
    await state.clear()
    await state.set_state(RequestForm.choosing)
    if prefill:
        await state.set_data({"prefill": prefill})
    action = RequestAction.QUESTION if action_is_ask(callback_data) else callback_data.action
    chosen = await chosen_child(
        query,
        session,
        actor,
        callback_data.pupil_id,
        lambda pid: RequestCb(action=callback_data.action, pupil_id=pid),
    )
    if chosen is None:
        return
    kind = _START_KINDS.get(RequestAction(action))
    if kind is None:
        raise UnknownKind(action)
    try:
        step = await requests.offer(session, actor, chosen, kind)
    except NotFound:
        await not_found(query)
        return
    pupil_id, name = chosen, step.child
    if action == RequestAction.CORRECTION:
        fields = [(f, step.current[f] or None) for f in step.options]
        options = [
            (
                field_label(f).capitalize(),
                RequestCb(action=RequestAction.FIELD, pupil_id=pupil_id, value=f),
            )
            for f in step.options
        ]
        text = render("request_fields.j2", child=name, fields=fields)
        await show_data(
            query, session, text, keyboards.choices(options), data_until(settings, clock)
        )
    elif action == RequestAction.DELETION:
        options = [
            (deletable_label(w), RequestCb(action=RequestAction.WHAT, pupil_id=pupil_id, value=w))
            for w in step.options
        ]
        text = render(
            "request_what.j2",
            child=name,
            kept=step.kept,
            has_note=requests.DELETION_NOTE in step.options,
        )
        extra = keyboards.correction_instead(pupil_id)
        await show(query, text, keyboards.choices(options, extra=extra))
    elif action == RequestAction.QUESTION:
        options = [
            (
                _ADDRESSEE_LABELS[role](),
                RequestCb(action=RequestAction.ADDRESSEE, pupil_id=pupil_id, value=role),
            )
            for role in step.options
        ]
        await show(query, render("request_addressee.j2", child=name), keyboards.choices(options))
    else:
        # START_ACTIONS and this chain must name the same kinds.
        raise UnknownKind(action)


async def field_chosen(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    if callback_data.value not in requests.CORRECTABLE_FIELDS:
        await stale(query)
        return
    try:
        step = await requests.offer(session, actor, callback_data.pupil_id, RequestKind.CORRECTION)
    except NotFound:
        await not_found(query)
        return
    field = callback_data.value
    await state.set_state(RequestForm.value)
    await state.set_data(
        {"kind": RequestKind.CORRECTION.value, "pupil_id": step.pupil_id, "field": field}
    )
    current = step.current[field] or None
    text = render("request_prompt.j2", step="value", field=field, current=current)
    await show_data(query, session, text, keyboards.only_cancel(), data_until(settings, clock))


async def what_chosen(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    if callback_data.value not in requests.DELETABLE:
        await stale(query)
        return
    try:
        await requests.offer(
            session, actor, callback_data.pupil_id, RequestKind.DELETION, what=callback_data.value
        )
    except NotFound:
        await not_found(query)
        return
    await state.set_state(RequestForm.choosing)
    await state.set_data(
        {"step": "ground", "pupil_id": callback_data.pupil_id, "what": callback_data.value}
    )
    text = render("request_ground.j2", what=callback_data.value)
    await show(query, text, _ground_keyboard(callback_data.pupil_id, callback_data.value))


def _ground_keyboard(pupil_id: int, what: str) -> keyboards.InlineKeyboardMarkup:
    options = [
        (
            ground_label(g.value),
            RequestCb(action=RequestAction.GROUND, pupil_id=pupil_id, value=f"{what}/{g.value}"),
        )
        for g in DeletionGround
    ]
    return keyboards.choices(options)


async def ground_chosen(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    what, _sep, ground = callback_data.value.partition("/")
    if what not in requests.DELETABLE or ground not in {g.value for g in DeletionGround}:
        await stale(query)
        return
    try:
        step = await requests.offer(
            session, actor, callback_data.pupil_id, RequestKind.DELETION, what=what, ground=ground
        )
    except NotFound:
        await not_found(query)
        return
    required = step.text_required
    typed_before = (await state.get_data()).get("text")
    form = {
        "kind": RequestKind.DELETION.value,
        "pupil_id": callback_data.pupil_id,
        "what": what,
        "ground": ground,
        "required": required,
    }
    if typed_before:
        # The parent typed the description while the reason was asked: it is kept.
        await state.set_state(None)
        await state.set_data({**form, "text": typed_before})
        text = await _confirm_text(session, actor, {**form, "text": typed_before})
        await show(query, text, keyboards.confirm_request())
        return
    await state.set_state(RequestForm.explanation)
    await state.set_data(form)
    skip = None if required else RequestCb(action=RequestAction.SKIP)
    text = render("request_prompt.j2", step="explanation", required=required)
    await show(query, text, keyboards.only_cancel(skip))


async def addressee_chosen(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    if callback_data.value not in {r.value for r in StaffRole}:
        await stale(query)
        return
    try:
        await requests.offer(session, actor, callback_data.pupil_id, RequestKind.QUESTION)
    except NotFound:
        await not_found(query)
        return
    form = {
        "kind": RequestKind.QUESTION.value,
        "pupil_id": callback_data.pupil_id,
        "addressee": callback_data.value,
    }
    prefill = (await state.get_data()).get("prefill")
    if prefill:
        # Typed at the menu and offered as a question: straight to the confirmation.
        await state.set_state(None)
        await state.set_data({**form, "text": prefill})
        text = await _confirm_text(session, actor, {**form, "text": prefill})
        await show(query, text, keyboards.confirm_request())
        return
    await state.set_state(RequestForm.question)
    await state.set_data(form)
    text = render("request_prompt.j2", step="question", addressee=callback_data.value)
    await show(query, text, keyboards.only_cancel())


async def access_chosen(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
) -> None:
    try:
        step = await requests.offer(session, actor, callback_data.pupil_id, RequestKind.ACCESS)
    except NotFound:
        await not_found(query)
        return
    await state.set_state(RequestForm.explanation)
    await state.set_data({"kind": RequestKind.ACCESS.value, "pupil_id": step.pupil_id})
    text = render("request_prompt.j2", step="access", child=step.child)
    await show(query, text, keyboards.only_cancel(RequestCb(action=RequestAction.SKIP)))


# --- typed steps --------------------------------------------------------------------


async def _confirm_text(session: AsyncSession, actor: Actor, data: dict[str, Any]) -> str:
    step = await requests.offer(session, actor, int(data["pupil_id"]), RequestKind.CORRECTION)
    return render(
        "request_confirm.j2",
        kind=data["kind"],
        child=step.child,
        field=data.get("field"),
        old=step.current[data["field"]] or None if data.get("field") else None,
        new=data.get("value"),
        what=data.get("what"),
        ground=data.get("ground"),
        addressee=data.get("addressee"),
        text=data.get("text", ""),
        shared=bool(data.get("shared")),
    )


async def typed(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    clock: Clock,
    settings: Settings,
) -> None:
    """Every typed step: validates, keeps the form on a mistake, moves on when right."""
    current = await state.get_state()
    data = await state.get_data()
    if message.text is None:
        await message.answer(_error("not_text"), reply_markup=keyboards.only_cancel())
        return
    try:
        if current == RequestForm.choosing.state:
            await _typed_at_a_choice(message, data, state)
            return
        if current == RequestForm.value.state:
            value = await requests.check_correction(
                session, actor, int(data["pupil_id"]), data["field"], message.text, clock.now()
            )
            await state.update_data(value=value)
            await state.set_state(RequestForm.explanation)
            text = render("request_prompt.j2", step="explanation", required=False)
            await message.answer(
                text, reply_markup=keyboards.only_cancel(RequestCb(action=RequestAction.SKIP))
            )
            return
        if current == RequestForm.message.state:
            await requests.add_message(
                session, actor, int(data["request_id"]), message.text, clock.now()
            )
            await state.clear()
            view = await requests.get_for_guardian(session, actor, int(data["request_id"]))
            await answer_data(
                message,
                session,
                render("request_view.j2", v=view, note="added"),
                keyboards.request_view(view.request.id or 0, view.is_open, view.can_withdraw),
                data_until(settings, clock),
            )
            return
        required = current == RequestForm.question.state or bool(data.get("required"))
        text = requests.clean_text(message.text, required=required)
    except InvalidInput as error:
        skip = (
            RequestCb(action=RequestAction.SKIP)
            if current == RequestForm.explanation.state and not data.get("required")
            else None
        )
        await message.answer(
            _error(error.reason, current), reply_markup=keyboards.only_cancel(skip)
        )
        return
    except NotFound:
        await state.clear()
        await message.answer(_("Niet gevonden."), reply_markup=keyboards.menu_for(actor))
        return
    await state.update_data(text=text)
    await state.set_state(None)
    await answer_data(
        message,
        session,
        await _confirm_text(session, actor, {**data, "text": text}),
        keyboards.confirm_request(data["kind"], bool(data.get("shared"))),
        data_until(settings, clock),
    )


async def _typed_at_a_choice(message: Message, data: dict[str, Any], state: FSMContext) -> None:
    """Text where a button is expected. At the reason for a deletion it is taken as the
    description (the parent saw "zelf omschrijven"); elsewhere the parent is told to tap."""
    if data.get("step") == "ground":
        text = requests.clean_text(message.text, required=True)
        await state.update_data(text=text)
        pupil_id, what = int(data["pupil_id"]), str(data["what"])
        await message.answer(
            render("request_prompt.j2", step="ground_typed"),
            reply_markup=_ground_keyboard(pupil_id, what),
        )
        return
    await message.answer(
        render("request_prompt.j2", step="choose"), reply_markup=keyboards.only_cancel()
    )


async def skip(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    data = await state.get_data()
    if await state.get_state() != RequestForm.explanation.state or data.get("required"):
        await stale(query)
        return
    await state.update_data(text="")
    await state.set_state(None)
    await show_data(
        query,
        session,
        await _confirm_text(session, actor, {**data, "text": ""}),
        keyboards.confirm_request(data["kind"], bool(data.get("shared"))),
        data_until(settings, clock),
    )


async def share(
    query: CallbackQuery,
    callback_data: RequestCb,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    settings: Settings,
    clock: Clock,
) -> None:
    """On a question's confirmation: also for the other guardian, or only for me."""
    data = await state.get_data()
    if await state.get_state() is not None or "text" not in data or data.get("kind") != "question":
        await stale(query)
        return
    shared = callback_data.value == "1"
    await state.update_data(shared=shared)
    await show_data(
        query,
        session,
        await _confirm_text(session, actor, {**data, "shared": shared}),
        keyboards.confirm_request(data["kind"], shared),
        data_until(settings, clock),
    )


async def send(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor,
    state: FSMContext,
    clock: Clock,
    event_update: Update,
) -> None:
    data = await state.get_data()
    if "text" not in data or "kind" not in data:
        await stale(query)  # already sent, or the form is gone
        return
    pupil_id, text, now = int(data["pupil_id"]), str(data["text"]), clock.now()
    update_id = event_update.update_id
    kind = RequestKind(data["kind"])
    try:
        request = await requests.create(session, actor, pupil_id, kind, data, text, now, update_id)
    except NotFound:
        await state.clear()
        await not_found(query)
        return
    except InvalidInput as error:
        # The stored data changed since the form was filled in (e.g. already corrected).
        await state.clear()
        await show(query, _error(error.reason), keyboards.back_to_menu())
        return
    await state.clear()
    assignee = await requests.assignee_of(session, request)
    text = render(
        "request_sent.j2",
        reference=request.reference,
        kind=kind.value,
        assignee_name=assignee.name,
        assignee_role=assignee.role.value,
        due=request.due_at,
    )
    await show(query, text, keyboards.request_sent())


# --- Mijn verzoeken -----------------------------------------------------------------


async def mine(
    query: CallbackQuery, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    await state.clear()
    summaries = await requests.list_for_guardian(session, actor)
    shown = summaries[:20]
    entries = [(f"{s.reference} · {s.pupil_name.split()[0]}", s.request_id) for s in shown]
    text = render("requests_list.j2", summaries=shown)
    await show(query, text, keyboards.request_list(entries))


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
    try:
        view = await requests.get_for_guardian(session, actor, callback_data.request_id)
    except NotFound:
        await not_found(query)
        return
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
    try:
        await requests.withdraw(session, actor, callback_data.request_id, clock.now())
        view = await requests.get_for_guardian(session, actor, callback_data.request_id)
    except NotFound:
        await not_found(query)
        return
    except AlreadyHandled as error:
        await query.answer(
            render("staff_error.j2", reason=error.reason, by=error.by), show_alert=True
        )
        return
    except (InvalidInput, NotAllowed):
        await query.answer(_error("decided"), show_alert=True)
        return
    await show_data(
        query,
        session,
        render("request_view.j2", v=view, note="withdrawn"),
        keyboards.request_view(callback_data.request_id, view.is_open, view.can_withdraw),
        data_until(settings, clock),
    )


def create_router() -> Router:
    router = Router(name=__name__)
    in_form = StateFilter(RequestForm)
    router.message.register(cancel_command, Command("annuleren", "cancel"))
    router.message.register(leave_form, in_form, F.text.startswith("/"))
    router.callback_query.register(leave_form, in_form, ~RequestCb.filter())
    router.message.register(typed, in_form)
    router.callback_query.register(
        cancel_button, RequestCb.filter(F.action == RequestAction.CANCEL)
    )
    router.callback_query.register(start_request, RequestCb.filter(F.action.in_(START_ACTIONS)))
    router.callback_query.register(field_chosen, RequestCb.filter(F.action == RequestAction.FIELD))
    router.callback_query.register(what_chosen, RequestCb.filter(F.action == RequestAction.WHAT))
    router.callback_query.register(
        ground_chosen, RequestCb.filter(F.action == RequestAction.GROUND)
    )
    router.callback_query.register(
        addressee_chosen, RequestCb.filter(F.action == RequestAction.ADDRESSEE)
    )
    router.callback_query.register(
        access_chosen, RequestCb.filter(F.action == RequestAction.ACCESS)
    )
    router.callback_query.register(skip, RequestCb.filter(F.action == RequestAction.SKIP))
    router.callback_query.register(send, RequestCb.filter(F.action == RequestAction.SEND))
    router.callback_query.register(share, RequestCb.filter(F.action == RequestAction.SHARE))
    router.callback_query.register(mine, RequestCb.filter(F.action == RequestAction.MINE))
    router.callback_query.register(
        open_request,
        RequestCb.filter(
            F.action.in_((RequestAction.OPEN, RequestAction.ADD_MESSAGE, RequestAction.WITHDRAW))
        ),
    )
    router.callback_query.register(
        withdraw, RequestCb.filter(F.action == RequestAction.WITHDRAW_CONFIRM)
    )
    return router
