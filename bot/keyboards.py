"""Keyboards: pure functions of ids and the current language."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import LanguageCb, Locale, MenuAction, MenuCb, VendorCb
from flows.vendors import VendorCard

LANGUAGE_NAMES = {Locale.NL: "Nederlands", Locale.EN: "English"}


def _button(text: str, data: MenuCb | LanguageCb | VendorCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def main_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("Leveranciers en privacybijsluiters"), MenuCb(action=MenuAction.VENDORS))],
            [_button(_("Help"), MenuCb(action=MenuAction.HELP))],
            [_button(_("Taal / Language"), MenuCb(action=MenuAction.LANGUAGE))],
            [_button(_("Ontkoppelen"), MenuCb(action=MenuAction.UNLINK))],
        ]
    )


def back_to_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(_("Naar het menu"), MenuCb(action=MenuAction.MAIN))]]
    )


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
    rows.append([_button(_("Naar het menu"), MenuCb(action=MenuAction.MAIN))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def vendor(card: VendorCard) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if card.leaflet_url:
        rows.append([InlineKeyboardButton(text=_("Privacybijsluiter lezen"), url=card.leaflet_url)])
    rows.append([_button(_("Alle leveranciers"), MenuCb(action=MenuAction.VENDORS))])
    rows.append([_button(_("Naar het menu"), MenuCb(action=MenuAction.MAIN))])
    return InlineKeyboardMarkup(inline_keyboard=rows)
