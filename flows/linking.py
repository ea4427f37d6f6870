"""Linking a Telegram account to a guardian or staff member with a code from a letter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import BigInteger, bindparam, delete, func, update
from sqlalchemy import select as core_select
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, codes
from flows.actor import AS_LINKED_BY_CODE, Actor, adopt, arrived, as_linked, current_actor
from flows.audit import AuditAction
from flows.errors import CodeExpired, CodeLocked, CodeUnknown, CodeUsed, InvalidInput, NotLinked
from flows.scope import children_at_school, forget
from storage.db import core, side_by_side, upsert
from storage.models import (
    AuthorKind,
    ChatLink,
    CodeAttempt,
    Guardian,
    InviteCode,
    SchoolGroup,
    Staff,
    StaffGroup,
    StaffRole,
)
from storage.prepared import Prepared, per_database, with_marker
from storage.rows import PupilFacts, PupilRow

SUPPORTED_LOCALES = ("nl", "en")


@dataclass(frozen=True)
class Child:
    pupil_id: int
    first_name: str
    full_name: str
    group: str
    birth_date: date


@dataclass(frozen=True)
class Profile:
    """What the bot says about an account: whose children, or which role and groups."""

    guardian_name: str | None
    children: tuple[Child, ...]
    staff_name: str | None
    role: StaffRole | None
    groups: tuple[str, ...]

    @property
    def is_linked(self) -> bool:
        return self.guardian_name is not None or self.staff_name is not None


def full_name(pupil: PupilFacts) -> str:
    return " ".join(p for p in (pupil.voornaam, pupil.tussenvoegsel, pupil.achternaam) if p)


async def redeem(session: AsyncSession, actor: Actor, typed: str, now: datetime) -> Profile:
    """Links the account when the code is right. Raises CodeLocked while too many wrong
    codes were tried (even for a right code), CodeUnknown, CodeUsed or CodeExpired.

    Core statements on the update's connection: on the evening the letters go home this
    is every parent's first update, and the ORM's loads and unit of work cost several
    times the statements. The account is read as the code would link it, with the code
    (flows.actor.AS_LINKED_BY_CODE), so the profile and the menu that follow are of the
    linked account while the link itself is written with the update's marker."""
    code = codes.normalize(typed)
    user = actor.telegram_user_id
    # The account as it is (the update's arrival has it): a code for a parent who is also
    # a teacher (or the other way round) keeps the other link.
    now_linked = await current_actor(session, user, actor.locale)
    connection = await core(session)
    if code is not None:
        # Two accounts with the same letter at the same moment (two phones, one QR code):
        # the second waits here until the first has committed, and then reads the code as
        # used. A write that changes nothing holds the code (on PostgreSQL its row, on
        # SQLite this process's turn to write) until the update commits; the answer is
        # sent after that (bot.routers.start), so no Telegram call waits behind it.
        await connection.run_sync(_HOLD_INVITE.write, {"held": codes.code_hash(code)})
    # The recent wrong codes, the code itself and the account as the code would link it,
    # in one read: the link can then be written with the update's marker.
    found = _CODE.split(
        await _READ_CODE.rows(
            connection,
            {
                "user": user,
                "since": now - codes.FAILURE_WINDOW * 2,
                # No code in what was typed: a hash no code has.
                "code_hash": codes.code_hash(code) if code is not None else "",
                "telegram_user_id": user,
                "guardian_id": now_linked.guardian_id,
                "staff_id": now_linked.staff_id,
                "locale": now_linked.locale,
            },
        )
    )
    attempts = [at for (at,) in found["attempt"]]
    until = codes.locked_until(attempts, now)
    if until is not None:
        raise CodeLocked(until)
    invite = _Invite(*found["invite"][0]) if found["invite"] else None
    if invite is None:
        await _count_failure(session, actor, now)
        raise CodeUnknown()
    if invite.used_at is not None:
        if invite.used_by == actor.telegram_user_id:
            if await _linked_by(session, actor, invite.guardian_id, invite.staff_id):
                # The parent tapped the link in the letter twice: they are linked already.
                return await profile(session, actor.telegram_user_id)
            # Linked with it once, unlinked since: a code works once, a new letter is needed.
            raise CodeUsed(by_you=True)
        raise CodeUsed()
    if invite.revoked_at is not None or invite.expires_at <= now:
        raise CodeExpired()

    linked = as_linked(found["linked"], user, now_linked.locale)
    # The link, the code used, the wrong codes forgotten and the audit: nothing in the
    # update reads them back, so they go with the update's marker (on PostgreSQL one
    # statement with it, no BEGIN or COMMIT: this is every parent's first update on the
    # evening the letters go home).
    link = {
        "user": user,
        "guardian": invite.guardian_id,
        "staff": invite.staff_id,
        "locale": actor.locale,
        "at": now,
    }
    with_marker(session, _link(connection.dialect.name), link)
    with_marker(session, _USE_INVITE, {"invite": invite.id, "at": now, "user": user})
    if attempts:
        # Older ones no longer count (codes.FAILURE_WINDOW) and the scheduler removes them.
        with_marker(session, _FORGET_ATTEMPTS, {"user": user})
    kind = AuthorKind.GUARDIAN if invite.guardian_id is not None else AuthorKind.STAFF
    await audit.record(
        session, actor, AuditAction.ACCOUNT_LINKED, now, detail=kind, with_the_marker=True
    )
    # An ORM copy of the link or the code this session holds is now behind the table.
    for stale in (identity_key(ChatLink, user), identity_key(InviteCode, invite.id)):
        if (held := session.identity_map.get(stale)) is not None:
            session.expire(held)
    forget(session)
    adopt(session, linked)
    return await profile(session, user)


@dataclass(frozen=True)
class _Invite:
    id: int
    guardian_id: int | None
    staff_id: int | None
    used_at: datetime | None
    used_by: int | None
    revoked_at: datetime | None
    expires_at: datetime


_INVITE = core_select(
    col(InviteCode.id),
    col(InviteCode.guardian_id),
    col(InviteCode.staff_id),
    col(InviteCode.used_at),
    col(InviteCode.used_by),
    col(InviteCode.revoked_at),
    col(InviteCode.expires_at),
).where(col(InviteCode.code_hash) == bindparam("code_hash"))
_ATTEMPTS = CodeAttempt.__table__  # type: ignore[attr-defined]
_RECENT = core_select(_ATTEMPTS.c.at).where(
    _ATTEMPTS.c.telegram_user_id == bindparam("user", type_=BigInteger),
    _ATTEMPTS.c.at > bindparam("since", type_=_ATTEMPTS.c.at.type),
)
_CODE = side_by_side(
    {
        "attempt": (_RECENT, (_ATTEMPTS.c.at,)),
        "invite": (_INVITE, (col(InviteCode.id),)),
        "linked": AS_LINKED_BY_CODE,
    }
)
_READ_CODE = Prepared(_CODE.statement)
_FORGET_ATTEMPTS = Prepared(
    delete(_ATTEMPTS).where(_ATTEMPTS.c.telegram_user_id == bindparam("user", type_=BigInteger))
)
_INVITES = InviteCode.__table__  # type: ignore[attr-defined]
_HOLD_INVITE = Prepared(
    update(_INVITES)
    .where(_INVITES.c.code_hash == bindparam("held"))
    .values(used_at=_INVITES.c.used_at)
)
_USE_INVITE = Prepared(
    update(_INVITES)
    .where(_INVITES.c.id == bindparam("invite"))
    .values(
        used_at=bindparam("at", type_=_INVITES.c.used_at.type),
        used_by=bindparam("user", type_=BigInteger),
    )
)


@per_database
def _link(dialect: str) -> Prepared:
    """The account linked to the code's guardian or staff member, whether or not it had a
    row (one is kept after unlinking, for the language): one statement, built once per
    dialect. A parent who is also a teacher keeps the other link."""
    links = ChatLink.__table__  # type: ignore[attr-defined]
    statement = upsert(dialect)(links).values(
        telegram_user_id=bindparam("user", type_=BigInteger),
        guardian_id=bindparam("guardian", type_=links.c.guardian_id.type),
        staff_id=bindparam("staff", type_=links.c.staff_id.type),
        locale=bindparam("locale", type_=links.c.locale.type),
        linked_at=bindparam("at", type_=links.c.linked_at.type),
    )
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=["telegram_user_id"],
            set_={
                "guardian_id": func.coalesce(statement.excluded.guardian_id, links.c.guardian_id),
                "staff_id": func.coalesce(statement.excluded.staff_id, links.c.staff_id),
                "linked_at": statement.excluded.linked_at,
            },
        )
    )


async def _recent_attempts(session: AsyncSession, actor: Actor, now: datetime) -> list[datetime]:
    found = await (await core(session)).execute(
        _RECENT, {"user": actor.telegram_user_id, "since": now - codes.FAILURE_WINDOW * 2}
    )
    return list(found.scalars())


async def _linked_by(
    session: AsyncSession, actor: Actor, guardian_id: int | None, staff_id: int | None
) -> bool:
    """Whether the account is still linked to the person the code was for."""
    link = await session.get(ChatLink, actor.telegram_user_id)
    if link is None:
        return False
    if guardian_id is not None:
        return link.guardian_id == guardian_id
    return staff_id is not None and link.staff_id == staff_id


@dataclass(frozen=True)
class CodeAttempts:
    left: int
    locked_until: datetime | None


async def code_attempts(session: AsyncSession, actor: Actor, now: datetime) -> CodeAttempts:
    """How many wrong codes this account may still send before it has to wait."""
    failures = await _recent_attempts(session, actor, now)
    until = codes.locked_until(failures, now)
    recent = sum(1 for at in failures if at > now - codes.FAILURE_WINDOW)
    left = 0 if until is not None else max(codes.MAX_FAILURES - recent, 0)
    return CodeAttempts(left=left, locked_until=until)


async def _count_failure(session: AsyncSession, actor: Actor, now: datetime) -> None:
    session.add(CodeAttempt(telegram_user_id=actor.telegram_user_id, at=now))
    # redeem raises after this; the caller handles the error and its transaction
    # still commits, so the wrong code is counted.
    await session.flush()


async def profile(session: AsyncSession, telegram_user_id: int) -> Profile:
    arrival = arrived(session, telegram_user_id)
    if arrival is not None:
        # The read this update started with has it all, but a staff member's group names.
        actor = arrival.actor
        guardian_name = arrival.guardian_name if actor.guardian_id is not None else None
        children = tuple(_child(p) for p in arrival.children)
        staff_name, role, staff_id = arrival.staff_name, actor.role, actor.staff_id
    else:
        link = await session.get(ChatLink, telegram_user_id)
        guardian_name, children, staff_name, role, staff_id = None, (), None, None, None
        if link is not None and link.guardian_id is not None:
            guardian = await session.get(Guardian, link.guardian_id)
            guardian_name = guardian.name if guardian else ""
            rows = await children_at_school(session, link.guardian_id)
            children = tuple(_child(p) for p in rows)
        if link is not None and link.staff_id is not None:
            staff = await session.get(Staff, link.staff_id)
            if staff is not None and staff.active:
                staff_name, role, staff_id = staff.name, StaffRole(staff.role), staff.id
    groups: tuple[str, ...] = ()
    if staff_id is not None:
        names = await session.exec(
            select(SchoolGroup.name)
            .join(StaffGroup, col(StaffGroup.group_id) == col(SchoolGroup.id))
            .where(StaffGroup.staff_id == staff_id)
            .order_by(col(SchoolGroup.name))
        )
        groups = tuple(names.all())
    return Profile(guardian_name, children, staff_name, role, groups)


def _child(pupil: PupilRow) -> Child:
    return Child(
        pupil_id=pupil.id,
        first_name=pupil.voornaam,
        full_name=full_name(pupil),
        group=pupil.group.name,
        birth_date=pupil.geboortedatum,
    )


async def unlink(session: AsyncSession, actor: Actor, now: datetime) -> None:
    """Removes only the link: the guardian's and children's data stay with the school."""
    link = await session.get(ChatLink, actor.telegram_user_id)
    if link is None or (link.guardian_id is None and link.staff_id is None):
        raise NotLinked()
    link.guardian_id = None
    link.staff_id = None
    link.linked_at = None
    session.add(link)
    await audit.record(session, actor, AuditAction.ACCOUNT_UNLINKED, now)


async def set_locale(session: AsyncSession, actor: Actor, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise InvalidInput("locale")
    link = await session.get(ChatLink, actor.telegram_user_id)
    if link is None:
        link = ChatLink(telegram_user_id=actor.telegram_user_id, locale=locale)
    link.locale = locale
    session.add(link)
