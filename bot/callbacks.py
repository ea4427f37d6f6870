"""Every inline button's data, typed. A button that does not unpack into one of these
(forged or from an older version) is answered by the fallback router."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class MenuAction(StrEnum):
    MAIN = "main"
    HELP = "help"
    LANGUAGE = "lang"
    UNLINK = "unlink"
    UNLINK_CONFIRM = "unlink_ok"
    VENDORS = "vendors"


class Locale(StrEnum):
    NL = "nl"
    EN = "en"


class MenuCb(CallbackData, prefix="m"):
    action: MenuAction


class LanguageCb(CallbackData, prefix="l"):
    locale: Locale


class VendorCb(CallbackData, prefix="v"):
    # The importer keeps keys to 48 ASCII characters, so this fits in 64 bytes.
    key: str


class ConsentAction(StrEnum):
    CHILDREN = "k"
    SHOW = "s"
    ASK = "a"
    CONFIRM = "c"
    HISTORY = "h"


class ConsentCb(CallbackData, prefix="c"):
    action: ConsentAction
    pupil_id: int = 0
    channel: str = ""
    grant: bool = False


class InzageCb(CallbackData, prefix="i"):
    pupil_id: int = 0  # 0: not chosen yet
