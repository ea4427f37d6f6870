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
            [_button(_("Leveranciers en privacybijsluiters"), MenuCb(action=MenuAction.VENDORS))],
            [_button(_("Help"), MenuCb(action=MenuAction.HELP))],
            [_button(_("Taal / Language"), MenuCb(action=MenuAction.LANGUAGE))],
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
    children: tuple[Child, ...], choose: Callable[[int], ConsentCb | InzageCb]
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


def inzage(pupil_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    _("Foto's en video's"), ConsentCb(action=ConsentAction.SHOW, pupil_id=pupil_id)
                )
            ],
            _menu_row(),
        ]
    )
