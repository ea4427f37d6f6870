"""Templates: Jinja2 with gettext from the current aiogram I18n context, HTML-escaped,
dates and times in the reader's language and the school's time zone."""

from __future__ import annotations

import html
import re
from collections.abc import MutableMapping
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from types import BuiltinFunctionType, FunctionType
from typing import Any

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.runtime import Context
from jinja2.utils import _PassArg
from markupsafe import Markup

from bot import labels, secure_links
from flows.clock import SCHOOL_TZ
from flows.requests import DELETION_NOTE, REQUIRED_FIELDS, UnknownKind, kind_of
from flows.requests.rules import holds

TEMPLATES = Path(__file__).parent / "templates"


def _i18n() -> I18n:
    return I18n.get_current(no_error=False)


def _gettext(message: str, /, **variables: Any) -> Markup:
    """Jinja's "newstyle" gettext for an autoescaped environment (the text is the
    catalog's, trusted; the variables are escaped as they go in), as a plain function:
    Jinja's own asks the context whether to escape on every call."""
    return Markup(_i18n().gettext(message)) % variables


def _ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> Markup:
    variables.setdefault("num", n)
    return Markup(_i18n().gettext(singular, plural, n)) % variables


def current_locale() -> str:
    i18n = I18n.get_current(no_error=True)
    return i18n.current_locale if i18n is not None else "nl"


# British English writes dates as a Dutch reader expects: day before month.
_BABEL_LOCALES = {"en": "en_GB", "nl": "nl_NL"}


def _babel_locale() -> Locale:
    return _babel(current_locale())


@lru_cache(maxsize=16)
def _babel(locale: str) -> Locale:
    # Babel parses a locale's name on every date it formats; a Locale is taken as it is.
    return Locale.parse(_BABEL_LOCALES.get(locale, locale))


def local(moment: datetime) -> datetime:
    """A time as the school's wall clock shows it (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SCHOOL_TZ)


def long_date(value: date | datetime | str) -> str:
    """12 maart 2017 / 12 March 2017; a string is an ISO date as requests store them, or
    an ISO timestamp as notifications carry them (shown as the school's date)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    day = local(value).date() if isinstance(value, datetime) else value
    return format_date(day, format="long", locale=_babel_locale())


def gender(code: str | None) -> str:
    return (
        _("jongen") if code == "M" else _("meisje") if code == "V" else _("anders / niet opgegeven")
    )


def value(field: str, shown: object) -> str:
    """A stored value as a parent reads it: a date in words, a gender as a word, nothing
    as "niet bekend". A function rather than a macro: Mijn gegevens shows one per field
    for every supplier, and a macro call cost several times a function's."""
    if shown is None:
        return _("niet bekend")
    if field == "geboortedatum":
        return long_date(shown)  # type: ignore[arg-type]
    if field == "geslacht":
        return gender(str(shown))
    return str(shown)


def clock_time(value: datetime) -> str:
    return format_time(local(value), format="HH:mm", locale=_babel_locale())


def date_time(value: datetime) -> str:
    return format_datetime(local(value), format="d MMMM y HH:mm", locale=_babel_locale())


def date_time_text(value: str) -> str:
    """An ISO timestamp as stored in an audit detail, in the reader's words."""
    return date_time(datetime.fromisoformat(value))


# Functions a template calls that take no context from Jinja (a label, a gettext): known
# once per function, so a call does not ask again. Only module-level functions are kept,
# which live as long as the process; a macro, a bound method or a function made inside
# another is a new object each time, and keeping them would grow without end.
_PLAIN: dict[Any, bool] = {}


class _Context(Context):
    """Jinja's context, with a call of a plain function made straight away: Jinja checks
    every call for the context it might want, and a screen of a child's data makes some
    seventy calls (labels, translations, dates)."""

    def call(self, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        plain = _PLAIN.get(obj)
        if plain is None:
            plain = _plain(obj)
        if not plain:
            return super().call(obj, *args, **kwargs)
        if kwargs:
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
        return obj(*args, **kwargs)


def _plain(obj: Any) -> bool:
    if not isinstance(obj, FunctionType | BuiltinFunctionType):
        return False
    plain = _PassArg.from_obj(obj) is None
    if "<locals>" not in obj.__qualname__:
        _PLAIN[obj] = plain
    return plain


class _Environment(Environment):
    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one dict, not Jinja's ChainMap over the environment's:
        every render copies them into its context, key by key through the ChainMap (some
        thirty per screen). The environment's globals are all set before a template is
        loaded (environment()), and never changed after."""
        return {**self.globals, **(d or {})}


@lru_cache(maxsize=1)
def environment() -> Environment:
    # trim_blocks also removes the newline after {% endtrans %}: in templates a line
    # that ends in one is followed by an empty line to keep its line break.
    env = _Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        # The templates ship with the code and never change while it runs: no stat of
        # the file on every message.
        auto_reload=False,
    )
    env.context_class = _Context
    # Newstyle: {% trans %} hands its variables to the call, which formats them.
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(gettext=_gettext, ngettext=_ngettext, _=_gettext)
    env.filters["long_date"] = long_date
    env.filters["clock_time"] = clock_time
    env.filters["date_time"] = date_time
    env.filters["small"] = labels.small_count
    env.globals.update(
        field_label=labels.field_label,
        group_label=labels.group_label,
        groups_label=labels.groups_label,
        kind_label=labels.kind_label,
        status_label=labels.status_label,
        ground_label=labels.ground_label,
        deletable_label=labels.deletable_label,
        role_label=labels.role_label,
        action_label=labels.action_label,
        notification_label=labels.notification_label,
        undelivered_label=labels.undelivered_label,
        actor_label=labels.actor_label,
        audit_detail=lambda detail: labels.audit_detail(detail, long_date, date_time_text),
        channel_label=labels.channel_label,
        kind_text=kind_text,
        action_text=action_text,
        deadline=deadline,
        holds=holds,
        required_fields=REQUIRED_FIELDS,
        deletion_note=DELETION_NOTE,
        secure_view=secure_links.enabled,
        gender=gender,
        value=value,
    )
    return env


def compile_all() -> None:
    """Every template compiled now, at start (0.2 s), rather than on the first message
    that needs it: the first parents of an evening do not wait for it."""
    env = environment()
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)


def deadline(kind: str, when: datetime) -> datetime | None:
    """The answer deadline to show, or None for a kind the law gives none (a question):
    a question is answered, not "uiterlijk" by a date."""
    return when if kind_of(kind).has_deadline else None


def request_title(kind: str, about: str) -> str:
    """A request named by its kind and what it is about ("Correctie van geboortedatum"),
    as plain text: the kind's "short" part, or its label."""
    return kind_words(kind, "short", about=about) or labels.kind_label(kind)


def kind_text(kind: str, part: str, **context: Any) -> Markup:
    """One part of a kind's own template (bot/templates/kinds/<kind>.j2): its label, its
    menu button, a step's prompt or option, its lines on a card. Empty when the kind
    has nothing to say there; UnknownKind when it has no template."""
    if context.keys() <= _VOCABULARY:
        # Words that depend on nothing but the language, whether the secure view is on and
        # the school's own codes (a label, a button, an option): rendered once, not on
        # every screen. Never with a name, a reference or a typed text in the context:
        # those would stay in the process after the child's data is erased.
        key = tuple(sorted(context.items()))
        return _kind_words(current_locale(), secure_links.enabled(), str(kind), part, key)
    return _kind_text(kind, part, context)


# What a kind's words may depend on and still be kept: codes from the school's own lists
# (a field, what a deletion removes or an objection is against, a step, an option).
_VOCABULARY = frozenset({"about", "option", "step_name"})


@lru_cache(maxsize=2048)
def _kind_words(
    _locale: str, _secure: bool, kind: str, part: str, context: tuple[tuple[str, Any], ...]
) -> Markup:
    return _kind_text(kind, part, dict(context))


def _kind_text(kind: str, part: str, context: dict[str, Any]) -> Markup:
    try:
        template = environment().get_template(f"kinds/{kind}.j2")
    except TemplateNotFound:
        raise UnknownKind(kind) from None
    for name in ("step", "step_name", "d", "r", "option", "where"):
        context.setdefault(name, None)
    # The template is autoescaped: what it renders is safe HTML already.
    return Markup(render_text(template.render(part=part, **context)))


def kind_words(kind: str, part: str, **context: Any) -> str:
    """A part of a kind's template as plain text, for a button or a chart."""
    return html.unescape(_TAG.sub("", str(kind_text(kind, part, **context))))


def action_text(action: str, part: str, r: Any = None, **context: Any) -> Markup:
    """One part of a staff action's words (bot/templates/staff_action.j2): its button,
    prompt, confirmation or note, in the request's kind's own words where it has them."""
    template = environment().get_template("staff_action.j2")
    context.setdefault("pupil", None)
    return Markup(render_text(template.render(action=action, part=part, r=r, **context)))


def action_words(action: str, part: str, r: Any = None, **context: Any) -> str:
    """A part of a staff action's words as plain text, for a button."""
    return html.unescape(_TAG.sub("", str(action_text(action, part, r, **context))))


MAX_MESSAGE = 4096  # Telegram's limit, in UTF-16 code units of the text after parsing
_TAG = re.compile(r"<[^>]*>")


def visible_length(text: str) -> int:
    """The length Telegram counts for an HTML message: tags gone, entities decoded."""
    plain = html.unescape(_TAG.sub("", text))
    return len(plain.encode("utf-16-le")) // 2


def fits(text: str) -> bool:
    return visible_length(text) <= MAX_MESSAGE


def render(name: str, **context: Any) -> str:
    return render_text(environment().get_template(name).render(**context))


def render_text(text: str) -> str:
    # Telegram keeps blank lines: collapse what template blocks leave behind.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)
