"""Keyboards: pure functions of ids and the current language."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot import secure_links
from bot.callbacks import (
    AccessLogCb,
    BoardCb,
    ConsentAction,
    ConsentCb,
    InzageCb,
    LanguageCb,
    Locale,
    MenuAction,
    MenuCb,
    RequestAction,
    RequestCb,
    SharingCb,
    StaffAction,
    StaffCb,
    VendorCb,
)
from bot.labels import channel_label, group_label
from bot.render import action_words, kind_words
from flows.actor import Actor
from flows.checklist import TaskItem
from flows.consent import ChannelState, GroupSummary
from flows.linking import Child
from flows.notify import Notice
from flows.requests import KINDS, Action
from flows.requests.commands import COMMANDS
from flows.requests.worklist import QueueItem, StaffCard
from flows.vendors import VendorCard
from storage.models import Request, RequestKind, StaffRole

LANGUAGE_NAMES = {Locale.NL: "Nederlands", Locale.EN: "English"}


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _menu_row() -> list[InlineKeyboardButton]:
    return [_button(_("Naar het menu"), MenuCb(action=MenuAction.MAIN))]


def main_menu(guardian: bool = True, role: StaffRole | None = None) -> InlineKeyboardMarkup:
    """The parent's menu, the staff menu, or both for a teacher who is also a parent."""
    rows: list[list[InlineKeyboardButton]] = []
    if role is not None:
        rows.append([_button(_("Wachtrij"), StaffCb(action=StaffAction.QUEUE))])
        rows.append([_button(_("Toestemming per groep"), StaffCb(action=StaffAction.CONSENT))])
        if role is StaffRole.DIRECTOR:
            rows.append(
                [
                    _button(_("Te laat"), StaffCb(action=StaffAction.OVERDUE)),
                    _button(_("Niet bezorgd"), StaffCb(action=StaffAction.UNDELIVERED)),
                ]
            )
            rows.append(
                [_button(_("Nog te doen door de school"), StaffCb(action=StaffAction.TASKS))]
            )
            rows.append(
                [
                    _button(
                        _("Beperkingen en bezwaren die gelden"),
                        StaffCb(action=StaffAction.IN_FORCE),
                    )
                ]
            )
        rows.append([_button(_("Logboek van een leerling"), StaffCb(action=StaffAction.LOG))])
    if guardian:
        secure = secure_links.enabled()
        rows += [
            [
                secure_links.button(_("Mijn gegevens"), "inzage")
                if secure
                else _button(_("Mijn gegevens"), InzageCb())
            ],
            [_button(_("Foto's en video's"), ConsentCb(action=ConsentAction.CHILDREN))],
            *_request_rows(),
            [
                secure_links.button(_("Gegevens delen met anderen"), "delen")
                if secure
                else _button(_("Gegevens delen met anderen"), SharingCb())
            ],
            [_button(_("Leveranciers en privacybijsluiters"), MenuCb(action=MenuAction.VENDORS))],
        ]
    rows.append(
        [
            _button(_("Help"), MenuCb(action=MenuAction.HELP)),
            _button(_("Taal / Language"), MenuCb(action=MenuAction.LANGUAGE)),
        ]
    )
    rows.append([_button(_("Ontkoppelen"), MenuCb(action=MenuAction.UNLINK))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def start_request(kind: RequestKind | str, pupil_id: int = 0) -> RequestCb:
    return RequestCb(action=RequestAction.START, pupil_id=pupil_id, value=str(kind))


def choose_option(step: str, index: int) -> RequestCb:
    """A choice step's answer: the option by its place on the form's keyboard."""
    return RequestCb(action=RequestAction.CHOOSE, value=f"{step}.{index}")


def _request_rows() -> list[list[InlineKeyboardButton]]:
    """A start button per kind in the request menu (its row in KINDS says whether, its
    template words it), then Mijn verzoeken; two to a row."""
    buttons = [
        _button(kind_words(kind, "menu"), start_request(kind))
        for kind, spec in KINDS.items()
        if spec.in_menu
    ]
    buttons.append(_button(_("Mijn verzoeken"), RequestCb(action=RequestAction.MINE)))
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def menu_for(actor: Actor) -> InlineKeyboardMarkup:
    locale = get_i18n().current_locale
    return _menu(locale, actor.is_board, actor.is_guardian, actor.role, secure_links.base())


@lru_cache(maxsize=64)
def _menu(
    locale: str, board: bool, guardian: bool, role: StaffRole | None, secure: str | None
) -> InlineKeyboardMarkup:
    """Made once per language and kind of account: its buttons are words from the
    catalogs and the kinds' templates, the same for everyone (`locale` is the key, `_`
    reads it from the update's context; `secure`, the secure view's address, likewise
    for its web_app buttons)."""
    if board:
        return board_menu(guardian)
    return main_menu(guardian or role is None, role)


def board_menu(guardian: bool) -> InlineKeyboardMarkup:
    """A board member sees figures; one who is also a parent keeps the parent's menu."""
    rows = [[_button(_("Cijfers voor het bestuur"), BoardCb())]]
    if guardian:
        rows += main_menu(True, None).inline_keyboard
    else:
        rows.append(
            [
                _button(_("Help"), MenuCb(action=MenuAction.HELP)),
                _button(_("Taal / Language"), MenuCb(action=MenuAction.LANGUAGE)),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def back_to_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_menu_row()])


def languages(current: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(("✓ " if locale.value == current else "") + name, LanguageCb(locale=locale))
                for locale, name in LANGUAGE_NAMES.items()
            ]
        ]
    )


def confirm_unlink() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Ja, ontkoppelen"), MenuCb(action=MenuAction.UNLINK_CONFIRM))],
            [_button(_("Nee, terug"), MenuCb(action=MenuAction.MAIN))],
        ]
    )


def vendors(cards: list[VendorCard]) -> InlineKeyboardMarkup:
    rows = [[_button(card.name, VendorCb(key=card.key))] for card in cards]
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def vendor(card: VendorCard) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if card.leaflet_url:
        rows.append([InlineKeyboardButton(text=_("Privacybijsluiter lezen"), url=card.leaflet_url)])
    rows.append([_button(_("Alle leveranciers"), MenuCb(action=MenuAction.VENDORS))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def pick_child(
    children: tuple[Child, ...], choose: Callable[[int], CallbackData]
) -> InlineKeyboardMarkup:
    rows = [[_button(child.full_name, choose(child.pupil_id))] for child in children]
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def consent(pupil_id: int, states: list[ChannelState]) -> InlineKeyboardMarkup:
    rows = []
    for state in states:
        grant = state.granted is not True
        label = (_("{channel}: toestemming geven") if grant else _("{channel}: intrekken")).format(
            channel=channel_label(state.channel)
        )
        data = ConsentCb(
            action=ConsentAction.ASK, pupil_id=pupil_id, channel=state.channel, grant=grant
        )
        rows.append([_button(label, data)])
    rows.append(
        [_button(_("Geschiedenis"), ConsentCb(action=ConsentAction.HISTORY, pupil_id=pupil_id))]
    )
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def consent_confirm(pupil_id: int, channel: str, grant: bool) -> InlineKeyboardMarkup:
    yes = _("Ja, toestemming geven") if grant else _("Ja, intrekken")
    confirm = ConsentCb(
        action=ConsentAction.CONFIRM, pupil_id=pupil_id, channel=channel, grant=grant
    )
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(yes, confirm)],
            [_button(_("Annuleren"), ConsentCb(action=ConsentAction.SHOW, pupil_id=pupil_id))],
        ]
    )


def consent_back(pupil_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Terug"), ConsentCb(action=ConsentAction.SHOW, pupil_id=pupil_id))]
        ]
    )


def inzage_vendors(pupil_id: int, page: int, pages: int) -> InlineKeyboardMarkup:
    """Vorige and Volgende between pages of suppliers, and back to the record."""
    turn: list[InlineKeyboardButton] = []
    if page > 1:
        turn.append(_button(_("« Vorige"), InzageCb(pupil_id=pupil_id, page=page - 1)))
    if page < pages:
        turn.append(_button(_("Volgende »"), InzageCb(pupil_id=pupil_id, page=page + 1)))
    rows = [turn] if turn else []
    rows.append([_button(_("Terug naar de gegevens"), InzageCb(pupil_id=pupil_id))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def inzage(pupil_id: int, special_category: bool, vendor_pages: int = 0) -> InlineKeyboardMarkup:
    locale = get_i18n().current_locale
    return _inzage(locale, secure_links.base(), pupil_id, special_category, vendor_pages)


@lru_cache(maxsize=1024)
def _inzage(
    _locale: str, _secure: str | None, pupil_id: int, special_category: bool, vendor_pages: int
) -> InlineKeyboardMarkup:
    """Made once per language and child (as _menu is per kind of account): seven buttons of
    words and ids, on every Mijn gegevens. Nothing of the child but its id is in it (the
    words of a kind follow the secure view: its address is part of the key too)."""
    rows = [
        [_button(_("Kopie downloaden"), InzageCb(pupil_id=pupil_id, download=True))],
        [
            _button(
                kind_words(RequestKind.CORRECTION, "menu"),
                start_request(RequestKind.CORRECTION, pupil_id),
            ),
            _button(
                _("Foto's en video's"), ConsentCb(action=ConsentAction.SHOW, pupil_id=pupil_id)
            ),
        ],
    ]
    if vendor_pages:
        suppliers = InzageCb(pupil_id=pupil_id, page=1)
        rows.append([_button(_("Wat weten de leveranciers?"), suppliers)])
    if special_category:
        ask = start_request(RequestKind.ACCESS, pupil_id)
        rows.append([_button(_("Inzage aanvragen"), ask)])
    rows.append([_button(_("Wie heeft de gegevens bekeken?"), AccessLogCb(pupil_id=pupil_id))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def ask_typed() -> InlineKeyboardMarkup:
    """Under text typed at the menu: send it as a question, or go to the menu."""
    ask = RequestCb(action=RequestAction.ASK_TYPED)
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(_("Als vraag versturen"), ask)], _menu_row()]
    )


def cancel_row() -> list[InlineKeyboardButton]:
    return [_button(_("Annuleren"), RequestCb(action=RequestAction.CANCEL))]


def choices(
    options: list[tuple[str, RequestCb]], *, extra: list[InlineKeyboardButton] | None = None
) -> InlineKeyboardMarkup:
    """One button per option, then an optional row, then Annuleren."""
    rows = [[_button(label, data)] for label, data in options]
    if extra:
        rows.append(extra)
    rows.append(cancel_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def instead(label: str, kind: str, pupil_id: int) -> list[InlineKeyboardButton]:
    """Under a step: another kind's form for the same child instead (a deletion's
    "Liever een correctie vragen")."""
    return [_button(label, RequestCb(action=RequestAction.START, pupil_id=pupil_id, value=kind))]


def only_cancel(skip: RequestCb | None = None) -> InlineKeyboardMarkup:
    rows = [[_button(_("Overslaan"), skip)]] if skip is not None else []
    rows.append(cancel_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_request(shareable: bool = False, shared: bool = False) -> InlineKeyboardMarkup:
    rows = [[_button(_("Versturen"), RequestCb(action=RequestAction.SEND))]]
    if shareable:
        # The choice the confirmation text explains; the other one is the button.
        label = _("Alleen voor mij") if shared else _("Ook zichtbaar voor de andere ouder")
        share = RequestCb(action=RequestAction.SHARE, value="0" if shared else "1")
        rows.append([_button(label, share)])
    rows.append(cancel_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


# RequestCb.value of a button under a receipt: the screen opens below it.
BELOW = "below"


def request_sent() -> InlineKeyboardMarkup:
    """Under the receipt: each opens below it, so the receipt stays in the chat."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Mijn verzoeken"), RequestCb(action=RequestAction.MINE, value=BELOW))],
            [_button(_("Naar het menu"), MenuCb(action=MenuAction.BELOW))],
        ]
    )


def request_list(entries: list[tuple[str, int]]) -> InlineKeyboardMarkup:
    rows = [
        [_button(label, RequestCb(action=RequestAction.OPEN, request_id=request_id))]
        for label, request_id in entries
    ]
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def request_view(request_id: int, is_open: bool, can_withdraw: bool) -> InlineKeyboardMarkup:
    rows = []
    if is_open:
        add = RequestCb(action=RequestAction.ADD_MESSAGE, request_id=request_id)
        rows.append([_button(_("Bericht toevoegen"), add)])
    if can_withdraw:
        withdraw = RequestCb(action=RequestAction.WITHDRAW, request_id=request_id)
        rows.append([_button(_("Verzoek intrekken"), withdraw)])
    rows.append([_button(_("Alle verzoeken"), RequestCb(action=RequestAction.MINE))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_withdraw(request_id: int) -> InlineKeyboardMarkup:
    yes = RequestCb(action=RequestAction.WITHDRAW_CONFIRM, request_id=request_id)
    back = RequestCb(action=RequestAction.OPEN, request_id=request_id)
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(_("Ja, intrekken"), yes)], [_button(_("Nee, terug"), back)]]
    )


def _staff(action: StaffAction, request_id: int = 0, pupil_id: int = 0) -> StaffCb:
    return StaffCb(action=action, request_id=request_id, pupil_id=pupil_id)


def _command(action: Action, request_id: int, *, confirmed: bool = False) -> StaffCb:
    return StaffCb(
        action=StaffAction.COMMAND, command=action, request_id=request_id, confirmed=confirmed
    )


def confirm_command(action: Action, request: Request, pupil: str) -> InlineKeyboardMarkup:
    """Under what an irreversible command will do: do it, or back to the card."""
    yes = action_words(action, "confirm_button", request, pupil=pupil)
    back = _staff(StaffAction.OPEN, request.id or 0)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(yes, _command(action, request.id or 0, confirmed=True))],
            [_button(_("Nee, terug naar het verzoek"), back)],
        ]
    )


def staff_back() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(_("Wachtrij"), _staff(StaffAction.QUEUE))], _menu_row()]
    )


def staff_consent_groups(groups: list[GroupSummary]) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                _("{group}: {without} van {pupils} zonder toestemming").format(
                    group=group_label(g.group, start=True),
                    without=g.without_consent,
                    pupils=g.pupils,
                ),
                StaffCb(action=StaffAction.CONSENT, group_id=g.group_id),
            )
        ]
        for g in groups
    ]
    rows.append([_button(_("Wachtrij"), _staff(StaffAction.QUEUE))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def staff_consent_channels(
    group_id: int, channels: tuple[str, ...], current: int, several_groups: bool
) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            ("• " if number == current else "") + channel_label(channel),
            StaffCb(action=StaffAction.CONSENT, group_id=group_id, channel=number),
        )
        for number, channel in enumerate(channels, start=1)
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    if several_groups:
        rows.append([_button(_("Alle groepen"), _staff(StaffAction.CONSENT))])
    rows.append([_button(_("Wachtrij"), _staff(StaffAction.QUEUE))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def staff_consent_back() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Alle groepen"), _staff(StaffAction.CONSENT))],
            [_button(_("Wachtrij"), _staff(StaffAction.QUEUE))],
            _menu_row(),
        ]
    )


def staff_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(_("Annuleren"), _staff(StaffAction.CANCEL))]]
    )


def staff_queue(items: list[QueueItem]) -> InlineKeyboardMarkup:
    # With the secure view the chat names no child: the reference and the group.
    secure = secure_links.enabled()
    rows = [
        [
            _button(
                ("⚠️ " if item.overdue else "")
                + f"{item.reference} · "
                + (group_label(item.group) if secure else item.pupil_name),
                _staff(StaffAction.OPEN, item.request_id),
            )
        ]
        for item in items
    ]
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def staff_card(card: StaffCard) -> InlineKeyboardMarkup:
    """A button for each staff action the rule allows now, in the table's order."""
    request_id = card.request.id or 0
    rows = [
        [_button(action_words(action, "button", card.request), _command(action, request_id))]
        for action in COMMANDS
        if action in card.actions
    ]
    if card.task is not None and card.task.done_at is None:
        # With the child: ticked on the card, the card is shown again (not the list).
        done = _staff(StaffAction.TASK_DONE, request_id, card.pupil_id)
        rows.append([_button(_("✓ Gedaan: afvinken"), done)])
    rows.append([_button(_("Logboek van de leerling"), _staff(StaffAction.LOG, 0, card.pupil_id))])
    rows.append([_button(_("Wachtrij"), _staff(StaffAction.QUEUE))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def staff_log(pupil_id: int, can_erase: bool) -> InlineKeyboardMarkup:
    """Under a child's logboek; the director may erase the child's data from here."""
    rows = []
    if can_erase:
        erase = _staff(StaffAction.ERASE, 0, pupil_id)
        rows.append([_button(_("Alle gegevens van dit kind wissen"), erase)])
    rows.append([_button(_("Wachtrij"), _staff(StaffAction.QUEUE))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_erase(pupil_id: int) -> InlineKeyboardMarkup:
    yes = _staff(StaffAction.ERASE_CONFIRM, 0, pupil_id)
    back = _staff(StaffAction.LOG, 0, pupil_id)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Ja, alles wissen"), yes)],
            [_button(_("Nee, terug"), back)],
        ]
    )


def staff_tasks(items: list[TaskItem]) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                _("✓ {reference} gedaan").format(reference=item.reference),
                _staff(StaffAction.TASK_DONE, item.request_id),
            )
        ]
        for item in items
    ]
    rows.append([_button(_("Wachtrij"), _staff(StaffAction.QUEUE))])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def staff_pupils(found: list[tuple[int, str, str]]) -> InlineKeyboardMarkup:
    rows = [
        [_button(f"{name} ({group})", _staff(StaffAction.LOG, 0, pupil_id))]
        for pupil_id, name, group in found
    ]
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def open_request(request_id: int) -> InlineKeyboardMarkup:
    """Under a notification to staff: straight to the request."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(_("Openen"), _staff(StaffAction.OPEN, request_id))]]
    )


def view_request(request_id: int) -> InlineKeyboardMarkup:
    """Under a notification to a parent: straight to their request."""
    data = RequestCb(action=RequestAction.OPEN, request_id=request_id)
    return InlineKeyboardMarkup(inline_keyboard=[[_button(_("Bekijken"), data)]])


def change_consent() -> InlineKeyboardMarkup:
    data = ConsentCb(action=ConsentAction.CHILDREN)
    return InlineKeyboardMarkup(inline_keyboard=[[_button(_("Toestemming aanpassen"), data)]])


def for_notification(template: str, params: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """The one button under a notification, in the recipient's language."""
    request_id = int(params.get("request_id") or 0)
    if template in (
        Notice.REQUEST_NEW,
        Notice.REQUEST_DUE_SOON,
        Notice.REQUEST_MESSAGE,
        Notice.REQUEST_WITHDRAWN,
    ):
        return open_request(request_id)
    if template in (
        Notice.REQUEST_REPLY,
        Notice.REQUEST_RESOLVED,
        Notice.REQUEST_REJECTED,
        Notice.REQUEST_EXTENDED,
        Notice.REQUEST_LIFTED,
    ):
        return view_request(request_id)
    if template == Notice.OVERDUE_SUMMARY:
        data = _staff(StaffAction.OVERDUE)
        return InlineKeyboardMarkup(inline_keyboard=[[_button(_("Te laat"), data)]])
    if template == Notice.CONSENT_YEARLY:
        return change_consent()
    return None


def back_to(data: CallbackData) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_button(_("Terug"), data)], _menu_row()])


def secure_screen(
    label: str, view: str, *, below: list[list[InlineKeyboardButton]] | None = None, **ids: int
) -> InlineKeyboardMarkup:
    """A screen with a child's data in the secure view: its web_app button, then `below`
    (the card's actions, back to the menu)."""
    rows = [[secure_links.button(label, view, **ids)]]
    rows += below if below is not None else [_menu_row()]
    return InlineKeyboardMarkup(inline_keyboard=rows)
