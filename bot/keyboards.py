"""Keyboards: pure functions of ids and the current language."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.callbacks import LanguageCb, Locale, MenuAction, MenuCb

LANGUAGE_NAMES = {Locale.NL: "Nederlands", Locale.EN: "English"}


def _button(text: str, data: MenuCb | LanguageCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def main_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
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
