"""Who is asking. Built once per update from the chat link; every flow takes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import BigInteger, Select, and_, bindparam, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    ChatLink,
    Guardian,
    GuardianPupil,
    Pupil,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)


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


# The rows the Actor was built from, held by the session for the rest of the update: the
# identity map holds objects only weakly, and a flow asking for the same ChatLink or
# Guardian again would otherwise query it again.
_ROWS = "ouderloket_actor_rows"
# The children load_actor found, for the menu (flows.linking.profile) in the same update.
CHILDREN = "ouderloket_actor_children"
USER = bindparam("telegram_user_id", type_=BigInteger)
# Built once per set of extra columns: constructing the statement is most of the cost
# of running it again (SQLAlchemy caches the compiled SQL, not the construction).
_STATEMENTS: dict[tuple[str, ...], Select[Any]] = {}


def _statement(extras: Mapping[str, ColumnElement[Any]]) -> Select[Any]:
    """From a one-row base, so that the extras come back even for an account that was
    never linked: the link, the guardian's children at school with their groups (a row
    per child), the staff member with their groups (a row per group), and the extras."""
    names = tuple(sorted(extras))
    statement = _STATEMENTS.get(names)
    if statement is None:
        one = select(literal(1).label("one")).subquery("one")
        statement = (
            select(
                ChatLink,
                Guardian,
                Pupil,
                SchoolGroup,
                Staff,
                col(StaffGroup.group_id),
                *(extras[name].label(name) for name in names),
            )
            .select_from(one)
            .outerjoin(ChatLink, col(ChatLink.telegram_user_id) == USER)
            .outerjoin(Guardian, col(Guardian.id) == col(ChatLink.guardian_id))
            .outerjoin(GuardianPupil, col(GuardianPupil.guardian_id) == col(ChatLink.guardian_id))
            .outerjoin(
                Pupil,
                and_(col(Pupil.id) == col(GuardianPupil.pupil_id), col(Pupil.left_at).is_(None)),
            )
            .outerjoin(SchoolGroup, col(SchoolGroup.id) == col(Pupil.group_id))
            .outerjoin(Staff, col(Staff.id) == col(ChatLink.staff_id))
            .outerjoin(StaffGroup, col(StaffGroup.staff_id) == col(Staff.id))
            .order_by(col(Pupil.geboortedatum), col(Pupil.id))
        )
        _STATEMENTS[names] = statement
    return statement


async def arrive(
    session: AsyncSession,
    telegram_user_id: int,
    default_locale: str,
    extras: Mapping[str, ColumnElement[Any]] | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[Actor, dict[str, Any]]:
    """Who is asking, and whatever else the update needs to know before it is handled
    (`extras`: scalar columns with their bound `params`, say whether the update was
    handled before), in one statement. The parent's children and a staff member's
    groups come with it, which own_child and the menu then answer from for the rest of
    the update."""
    extras = extras or {}
    rows = (
        await session.exec(
            cast(Any, _statement(extras)),
            params={"telegram_user_id": telegram_user_id, **(params or {})},
        )
    ).all()
    found = {name: rows[0]._mapping[name] for name in extras}
    link, guardian, staff = rows[0][0], rows[0][1], rows[0][4]
    if link is None:
        return Actor(telegram_user_id=telegram_user_id, locale=default_locale), found
    held: list[Any] = [link, guardian, staff]
    session.info[_ROWS] = held
    if link.guardian_id is not None:
        # A row per child and staff group: each child once, oldest first.
        by_id = {row[2].id: (row[2], row[3]) for row in rows if row[2] is not None and row[3]}
        children = list(by_id.values())
        held.extend(obj for row in children for obj in row)
        session.info[CHILDREN] = (link.guardian_id, children)
        # Imported here: flows.scope builds on Actor.
        from flows.scope import remember_own

        remember_own(session, link.guardian_id, children)
    role: StaffRole | None = None
    groups: frozenset[int] = frozenset()
    staff_id = link.staff_id
    if staff is None or not staff.active:
        staff_id = None
    else:
        role = StaffRole(staff.role)
        groups = frozenset(row[5] for row in rows if row[5] is not None)
    actor = Actor(
        telegram_user_id=telegram_user_id,
        locale=link.locale,
        guardian_id=link.guardian_id,
        staff_id=staff_id,
        role=role,
        group_ids=groups,
    )
    return actor, found


async def load_actor(session: AsyncSession, telegram_user_id: int, default_locale: str) -> Actor:
    return (await arrive(session, telegram_user_id, default_locale))[0]


def loaded_children(
    session: AsyncSession, guardian_id: int
) -> list[tuple[Pupil, SchoolGroup]] | None:
    """The guardian's children at school with their groups, oldest first, as load_actor
    found them in this update; None when it did not (another account, or links changed
    since)."""
    found = session.info.get(CHILDREN)
    if found is None or found[0] != guardian_id:
        return None
    return list(found[1])
