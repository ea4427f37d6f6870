"""Who is asking. Built once per update from the chat link; every flow takes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, cast

from sqlalchemy import (
    BigInteger,
    FromClause,
    Integer,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.visitors import replacement_traverse
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import rows
from storage.db import SideBySide, core, side_by_side
from storage.models import (
    ChatLink,
    Guardian,
    GuardianPupil,
    InviteCode,
    Pupil,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)
from storage.prepared import Prepared
from storage.rows import PupilRow


@dataclass(frozen=True)
class Actor:
    telegram_user_id: int
    locale: str
    guardian_id: int | None = None
    staff_id: int | None = None
    role: StaffRole | None = None
    group_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_linked(self) -> bool:
        return self.guardian_id is not None or self.staff_id is not None

    @property
    def is_guardian(self) -> bool:
        return self.guardian_id is not None

    @property
    def is_staff(self) -> bool:
        """Staff who handle requests; a board member sees figures only."""
        return self.staff_id is not None and self.role is not StaffRole.BOARD

    @property
    def is_board(self) -> bool:
        return self.staff_id is not None and self.role is StaffRole.BOARD

    @property
    def is_director(self) -> bool:
        return self.role is StaffRole.DIRECTOR


# What arrive() found, for the rest of the update (the menu's profile, own_child): the
# guardian's name and children, the staff member's name. Dropped when a flush changes who
# belongs to whom (flows.scope), so a flow never answers from a stale arrival.
ARRIVAL = "ouderloket_arrival"
USER = bindparam("telegram_user_id", type_=BigInteger)
_LINKS = ChatLink.__table__  # type: ignore[attr-defined]
_STAFF = (col(Staff.name), col(Staff.role), col(Staff.active), col(StaffGroup.group_id))
# The link's four columns and the guardian's name come first in a row.
_LINK_WIDTH = 5
_CHILD = slice(_LINK_WIDTH, _LINK_WIDTH + rows.WIDTH)
_EXTRAS = _CHILD.stop + len(_STAFF)


# A read: its SELECT (without ORDER BY) and the order it wants (storage.db.side_by_side).
Read: TypeAlias = "tuple[Select[*tuple[Any, ...]], Sequence[SQLColumnExpression[Any]]]"

# The child a pressed button is about (its id, or 0 for "the parent's only child"), as
# the button says it: bound by whoever asks for reads Alongside the arrival.
ASKED_CHILD = bindparam("asked_child", type_=Integer)
# That child, if it is a child at school of the asking account; NULL otherwise (another
# family's child, or 0 with several children, who are then offered to choose from).
_THE_CHILD = (
    select(func.min(GuardianPupil.pupil_id))
    .join(ChatLink, col(ChatLink.guardian_id) == col(GuardianPupil.guardian_id))
    .join(Pupil, and_(col(Pupil.id) == col(GuardianPupil.pupil_id), col(Pupil.left_at).is_(None)))
    .where(
        col(ChatLink.telegram_user_id) == USER,
        or_(col(GuardianPupil.pupil_id) == ASKED_CHILD, ASKED_CHILD == 0),
    )
    .having(func.count() == 1)
    .scalar_subquery()
)


class Alongside:
    """Reads of the child a pressed button is about, made in the statement the update
    starts with (arrive) instead of a statement of their own: the flow that would make
    them finds their rows with `read_alongside`. Each read's :pupil_id becomes that child,
    and only when it is the asking account's own child at school (ASKED_CHILD): for a
    forged button nothing is read."""

    def __init__(self, reads: Mapping[str, Read]) -> None:
        self.reads: dict[str, Read] = {
            tag: (_about_the_child(statement), order) for tag, (statement, order) in reads.items()
        }
        self.reads[_WHICH] = (select(_THE_CHILD.label("pupil_id")), ())
        ALONGSIDE.append(self)


# Every Alongside made (each a module's constant, made at import): with none, the forms
# the statement an update starts with can take (bot.middlewares prepares each of them
# on every connection of the pool before the bot serves).
ALONGSIDE: list[Alongside] = []
_WHICH = "which_child"
# Reads alongside the arrival, and the child the pressed button asks about.
Wanted = tuple[Alongside, int]


def _about_the_child(statement: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """The read with the button's child (_THE_CHILD) where it binds :pupil_id."""
    return bound(statement, {"pupil_id": _THE_CHILD})


# The guardian the asking account is linked to (NULL for another account).
ASKING_GUARDIAN = (
    select(_LINKS.c.guardian_id).where(_LINKS.c.telegram_user_id == USER).scalar_subquery()
)


def bound(
    statement: Select[*tuple[Any, ...]], values: Mapping[str, ColumnElement[Any]]
) -> Select[*tuple[Any, ...]]:
    """The read with each of its bound parameters named in `values` replaced by that
    expression (a subquery, say), for a read made alongside the arrival."""

    def replaced(element: Any) -> Any:
        if isinstance(element, BindParameter) and element.key in values:
            return values[element.key]
        return None

    found = replacement_traverse(statement, {}, replaced)  # type: ignore[call-overload]
    return cast("Select[*tuple[Any, ...]]", found)


@dataclass(frozen=True)
class Arrival:
    """Who is asking, and what the read every update starts with found besides."""

    actor: Actor
    found: dict[str, Any]
    guardian_name: str | None = None
    children: tuple[PupilRow, ...] = ()
    staff_name: str | None = None
    # The reads that came with it: which, for which child, and their rows by tag.
    alongside: tuple[Alongside, int | None, dict[str, list[tuple[Any, ...]]]] | None = None


def _read(link: FromClause, extras: Mapping[str, ColumnElement[Any]]) -> Select[Any]:
    """From a one-row base, so that the extras come back even for an account that was
    never linked: the link, the guardian's children at school with their groups (a row
    per child), the staff member with their groups (a row per group), and the extras.
    Core rows, not ORM objects: making those cost more than the read. Without its order
    (_ORDER), which a read of several parts gives each part apart (side_by_side)."""
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(
            link.c.telegram_user_id,
            link.c.guardian_id,
            link.c.staff_id,
            link.c.locale,
            col(Guardian.name),
            *rows.COLUMNS,
            *_STAFF,
            *(extras[name].label(name) for name in sorted(extras)),
        )
        .select_from(one)
        .outerjoin(link, link.c.telegram_user_id == USER)
        .outerjoin(Guardian, col(Guardian.id) == link.c.guardian_id)
        .outerjoin(GuardianPupil, col(GuardianPupil.guardian_id) == link.c.guardian_id)
        .outerjoin(
            Pupil,
            and_(col(Pupil.id) == col(GuardianPupil.pupil_id), col(Pupil.left_at).is_(None)),
        )
        .outerjoin(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
        .outerjoin(Staff, col(Staff.id) == link.c.staff_id)
        .outerjoin(StaffGroup, col(StaffGroup.staff_id) == col(Staff.id))
    )


_ORDER = (col(Pupil.geboortedatum), col(Pupil.id))


# Built once per set of extra columns and reads alongside: constructing the statement is
# most of the cost of running it again (SQLAlchemy caches the compiled SQL, not the
# construction).
_STATEMENTS: dict[tuple[tuple[str, ...], Alongside | None], tuple[Prepared, SideBySide | None]] = {}
_ARRIVAL = "arrival"


def _statement(
    extras: Mapping[str, ColumnElement[Any]], alongside: Alongside | None
) -> tuple[Prepared, SideBySide | None]:
    key = (tuple(sorted(extras)), alongside)
    found = _STATEMENTS.get(key)
    if found is None:
        if alongside is None:
            found = (Prepared(_read(_LINKS, extras).order_by(*_ORDER)), None)
        else:
            parts = side_by_side({_ARRIVAL: (_read(_LINKS, extras), _ORDER), **alongside.reads})
            found = (Prepared(parts.statement), parts)
        _STATEMENTS[key] = found
    return found


# The account as a letter's code (bound as :code_hash) would link it, read before the link
# is written (flows.linking): the code's guardian or staff member, and the account's other
# link kept (bound as :guardian_id and :staff_id, the account's as it is), as the link's
# upsert keeps it. The SELECT and its order, for a read of several parts (side_by_side).
_BY_CODE = (
    select(
        USER.label("telegram_user_id"),
        func.coalesce(
            col(InviteCode.guardian_id), bindparam("guardian_id", type_=_LINKS.c.guardian_id.type)
        ).label("guardian_id"),
        func.coalesce(
            col(InviteCode.staff_id), bindparam("staff_id", type_=_LINKS.c.staff_id.type)
        ).label("staff_id"),
        bindparam("locale", type_=_LINKS.c.locale.type).label("locale"),
    )
    .where(col(InviteCode.code_hash) == bindparam("code_hash"))
    .subquery("linked")
)
AS_LINKED_BY_CODE = (_read(_BY_CODE, {}), _ORDER)


def as_linked(found_rows: list[tuple[Any, ...]], telegram_user_id: int, locale: str) -> Arrival:
    """The Arrival of AS_LINKED_BY_CODE's rows."""
    return _arrival(found_rows, telegram_user_id, locale, [])


async def arrive(
    connection: AsyncConnection,
    telegram_user_id: int,
    default_locale: str,
    extras: Mapping[str, ColumnElement[Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    alongside: Alongside | None = None,
) -> Arrival:
    """Who is asking, and whatever else the update needs to know before it is handled
    (`extras`: scalar columns with their bound `params`, say whether the update was
    handled before), in one statement. The parent's children and a staff member's
    groups come with it; adopt() lets the menu and own_child answer from them. With
    `alongside`, its reads of the child bound as ASKED_CHILD in `params` too."""
    extras = extras or {}
    prepared, parts = _statement(extras, alongside)
    found_rows = await prepared.rows(
        connection, {"telegram_user_id": telegram_user_id, **(params or {})}
    )
    if alongside is None or parts is None:
        return _arrival(found_rows, telegram_user_id, default_locale, sorted(extras))
    split = parts.split(found_rows)
    arrival = _arrival(split.pop(_ARRIVAL), telegram_user_id, default_locale, sorted(extras))
    (child,) = split.pop(_WHICH)
    return replace(arrival, alongside=(alongside, child[0], split))


def _arrival(
    found_rows: list[tuple[Any, ...]], telegram_user_id: int, default_locale: str, names: list[str]
) -> Arrival:
    first = found_rows[0]
    found = {name: first[_EXTRAS + i] for i, name in enumerate(names)}
    linked_user, guardian_id, staff_id, locale, guardian_name = first[:_LINK_WIDTH]
    if linked_user is None:
        return Arrival(Actor(telegram_user_id=telegram_user_id, locale=default_locale), found)
    children: dict[int, PupilRow] = {}
    if guardian_id is not None:
        # A row per child and staff group: each child once, oldest first.
        for row in found_rows:
            child = rows.pupil_row(row[_CHILD])
            if child is not None:
                children.setdefault(child.id, child)
    staff_name, role_name, active = first[_CHILD.stop : _CHILD.stop + 3]
    role: StaffRole | None = None
    groups: frozenset[int] = frozenset()
    if staff_name is None or not active:
        staff_id, staff_name = None, None
    else:
        role = StaffRole(role_name)
        groups = frozenset(row[_EXTRAS - 1] for row in found_rows if row[_EXTRAS - 1] is not None)
    actor = Actor(
        telegram_user_id=telegram_user_id,
        locale=locale,
        guardian_id=guardian_id,
        staff_id=staff_id,
        role=role,
        group_ids=groups,
    )
    return Arrival(actor, found, guardian_name, tuple(children.values()), staff_name)


def adopt(session: AsyncSession, arrival: Arrival) -> None:
    """The session answers the rest of the update from what arrive() found."""
    session.info[ARRIVAL] = arrival
    if arrival.actor.guardian_id is not None:
        # Imported here: flows.scope builds on Actor.
        from flows.scope import remember_own

        remember_own(session, arrival.actor.guardian_id, arrival.children)


async def load_actor(session: AsyncSession, telegram_user_id: int, default_locale: str) -> Actor:
    # Through storage.db.core: what the session holds for the database is written first.
    arrival = await arrive(await core(session), telegram_user_id, default_locale)
    adopt(session, arrival)
    return arrival.actor


async def current_actor(session: AsyncSession, telegram_user_id: int, default_locale: str) -> Actor:
    """The account as this transaction has it now: the arrival's, unless links changed
    since it was read (then read again)."""
    arrival = arrived(session, telegram_user_id)
    if arrival is not None:
        return arrival.actor
    return await load_actor(session, telegram_user_id, default_locale)


def read_alongside(
    session: AsyncSession, alongside: Alongside, pupil_id: int
) -> dict[str, list[tuple[Any, ...]]] | None:
    """The rows of `alongside`'s reads by tag, when the update's first statement made
    them for this child; handed out once (a second read in the update is made afresh, as
    it may follow a write). None otherwise."""
    found: Arrival | None = session.info.get(ARRIVAL)
    if found is None or found.alongside is None:
        return None
    which, child, rows = found.alongside
    if which is not alongside or child != pupil_id:
        return None
    session.info[ARRIVAL] = replace(found, alongside=None)
    return rows


def arrived(session: AsyncSession, telegram_user_id: int) -> Arrival | None:
    """What arrive() found for this account in this update; None when it did not read it
    (another account), or when links changed since."""
    found: Arrival | None = session.info.get(ARRIVAL)
    if found is None or found.actor.telegram_user_id != telegram_user_id:
        return None
    return found


async def guardian_name(session: AsyncSession, actor: Actor) -> str:
    """The parent's name as the school has it: from the arrival, else read."""
    arrival = arrived(session, actor.telegram_user_id)
    if arrival is not None and arrival.actor.guardian_id == actor.guardian_id:
        return arrival.guardian_name or ""
    guardian = await session.get(Guardian, actor.guardian_id) if actor.guardian_id else None
    return guardian.name if guardian else ""
