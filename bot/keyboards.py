"""Keyboards: pure functions of ids and the current language."""

from __future__ import annotations

from collections.abc import Callable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import (
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
    VendorCb,
)
from bot.labels import channel_label
from flows.consent import ChannelState
from flows.linking import Child
from flows.vendors import VendorCard

LANGUAGE_NAMES = {Locale.NL: "Nederlands", Locale.EN: "English"}


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _menu_row() -> list[InlineKeyboardButton]:
    return [_button(_("Naar het menu"), MenuCb(action=MenuAction.MAIN))]


def main_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Mijn gegevens"), InzageCb())],
            [_button(_("Foto's en video's"), ConsentCb(action=ConsentAction.CHILDREN))],
            [
                _button(_("Correctie vragen"), RequestCb(action=RequestAction.CORRECTION)),
                _button(_("Verwijdering vragen"), RequestCb(action=RequestAction.DELETION)),
            ],
            [
                _button(_("Vraag stellen"), RequestCb(action=RequestAction.QUESTION)),
                _button(_("Mijn verzoeken"), RequestCb(action=RequestAction.MINE)),
            ],
            [_button(_("Gegevens delen met anderen"), SharingCb())],
            [_button(_("Leveranciers en privacybijsluiters"), MenuCb(action=MenuAction.VENDORS))],
            [
                _button(_("Help"), MenuCb(action=MenuAction.HELP)),
                _button(_("Taal / Language"), MenuCb(action=MenuAction.LANGUAGE)),
            ],
            [_button(_("Ontkoppelen"), MenuCb(action=MenuAction.UNLINK))],
        ]
    )


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


def inzage(pupil_id: int, special_category: bool) -> InlineKeyboardMarkup:
    rows = [
        [_button(_("Kopie downloaden"), InzageCb(pupil_id=pupil_id, download=True))],
        [
            _button(
                _("Correctie vragen"), RequestCb(action=RequestAction.CORRECTION, pupil_id=pupil_id)
            ),
            _button(
                _("Foto's en video's"), ConsentCb(action=ConsentAction.SHOW, pupil_id=pupil_id)
            ),
        ],
    ]
    if special_category:
        ask = RequestCb(action=RequestAction.ACCESS, pupil_id=pupil_id)
        rows.append([_button(_("Inzage aanvragen"), ask)])
    rows.append(_menu_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


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


def only_cancel(skip: RequestCb | None = None) -> InlineKeyboardMarkup:
    rows = [[_button(_("Overslaan"), skip)]] if skip is not None else []
    rows.append(cancel_row())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_request() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Versturen"), RequestCb(action=RequestAction.SEND))],
            cancel_row(),
        ]
    )


def request_sent() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Mijn verzoeken"), RequestCb(action=RequestAction.MINE))],
            _menu_row(),
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
