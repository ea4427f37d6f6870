"""Every inline button's data, typed. A button that does not unpack into one of these
(forged or from an older version) is answered by the fallback router."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from flows.requests.rules import Action


class MenuAction(StrEnum):
    MAIN = "main"
    HELP = "help"
    LANGUAGE = "lang"
    UNLINK = "unlink"
    UNLINK_CONFIRM = "unlink_ok"
    VENDORS = "vendors"
    # The menu as a new message below a receipt, which stays as it is (MAIN edits).
    BELOW = "below"


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
    download: bool = False  # send the copy as documents
    page: int = 0  # 0: the record; 1, 2, ...: what the suppliers receive, a few per page


class RequestAction(StrEnum):
    START = "n"  # a request form: value is the kind; pick the child first
    CHOOSE = "c"  # a choice step answered: value is "<step>.<index of the option>"
    SKIP = "sk"  # no explanation
    SEND = "ok"  # the confirmation screen's "Versturen"
    CANCEL = "x"
    MINE = "l"  # Mijn verzoeken
    OPEN = "o"
    ADD_MESSAGE = "m"
    WITHDRAW = "w"
    WITHDRAW_CONFIRM = "wc"
    SHARE = "sh"  # a question: value "1" also for the other guardian, "0" only for the asker
    ASK_TYPED = "aq"  # "Als vraag versturen": what was typed at the menu, as a question


class RequestCb(CallbackData, prefix="r"):
    action: RequestAction
    pupil_id: int = 0
    request_id: int = 0
    value: str = ""  # a kind (START) or a step and an option's index (CHOOSE)


class SharingCb(CallbackData, prefix="d"):
    pupil_id: int = 0  # 0: not chosen yet


class StaffAction(StrEnum):
    QUEUE = "q"
    OPEN = "o"
    # A command on the request (flows.requests.commands.COMMANDS), named in `command`.
    COMMAND = "c"
    CONSENT = "t"
    OVERDUE = "l"
    LOG = "g"  # the audit trail of one pupil (pupil_id), or the search for one
    UNDELIVERED = "u"
    CANCEL = "x"
    IN_FORCE = "k"  # the director's "Beperkingen en bezwaren die gelden"
    TASKS = "v"  # the director's checklist "Nog verwijderen in ParnasSys"
    TASK_DONE = "vd"  # ... one item ticked off (request_id)
    ERASE = "w"  # "Alle gegevens van dit kind wissen": the confirmation (pupil_id)
    ERASE_CONFIRM = "wc"  # ... confirmed


class StaffCb(CallbackData, prefix="s"):
    action: StaffAction
    command: Action | None = None
    # The confirmation of a command that cannot be undone (its text waits in the FSM).
    confirmed: bool = False
    request_id: int = 0
    pupil_id: int = 0
    group_id: int = 0  # the consent overview of one group
    channel: int = 0  # ... and of one channel (1-based), when the group's is too long


class AccessLogCb(CallbackData, prefix="w"):
    pupil_id: int  # a parent's "Wie heeft de gegevens bekeken of gewijzigd?"


class BoardCb(CallbackData, prefix="b"):
    """The board's figures; no parameters: a board member never picks a child."""

    refresh: bool = False
