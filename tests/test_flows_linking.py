"""The linking flow on an in-memory database, without Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import codes, invites, linking
from flows.actor import Actor, load_actor
from flows.clock import FixedClock
from flows.errors import CodeExpired, CodeLocked, CodeUnknown, CodeUsed, InvalidInput, NotLinked
from storage.models import AuditEvent, ChatLink, InviteCode, StaffRole
from tests import factories

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_codes_avoid_misreadable_characters_and_normalise_typing() -> None:
    code = codes.new_code()
    assert len(code) == 12 and not set(code) & set("IO01")
    assert codes.normalize(" " + codes.display(code).lower() + " ") == code
    assert codes.normalize("ABCD-EFGH-JKL") is None
    assert codes.looks_like_code("abcd efgh jk0o")


def test_lock_needs_five_failures_within_fifteen_minutes() -> None:
    spread = [T0 + timedelta(minutes=4 * i) for i in range(5)]  # 16 minutes apart end to end
    assert codes.locked_until(spread, T0 + timedelta(minutes=17)) is None
    quick = [T0 + timedelta(minutes=i) for i in range(5)]
    assert codes.locked_until(quick, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=19)
    assert codes.locked_until(quick, T0 + timedelta(minutes=19)) is None


async def test_redeem_links_guardian_once_and_stores_only_a_hash(session: AsyncSession) -> None:
    emma = await factories.pupil(session)
    sanne = await factories.guardian(session, "Sanne de Vries", emma)
    code = await factories.guardian_code(session, sanne, T0)
    stored = (await session.exec(select(InviteCode))).one()
    assert code not in stored.code_hash and stored.code_hash == codes.code_hash(code)

    actor = Actor(telegram_user_id=7, locale="nl")
    profile = await linking.redeem(session, actor, code, T0)
    assert [c.full_name for c in profile.children] == ["Emma de Vries"]
    assert (await load_actor(session, 7, "nl")).guardian_id == sanne.id
    with pytest.raises(CodeUsed):
        await linking.redeem(session, Actor(telegram_user_id=8, locale="nl"), code, T0)
    actions = (await session.exec(select(AuditEvent.action))).all()
    assert "account_linked" in actions


async def test_a_new_letter_replaces_the_old_code(session: AsyncSession) -> None:
    sanne = await factories.guardian(session, "Sanne", await factories.pupil(session))
    old = await factories.guardian_code(session, sanne, T0)
    new = await factories.guardian_code(session, sanne, T0 + timedelta(days=1))
    with pytest.raises(CodeExpired):
        await linking.redeem(session, Actor(telegram_user_id=9, locale="nl"), old, T0)
    await linking.redeem(session, Actor(telegram_user_id=9, locale="nl"), new, T0)


async def test_code_expires_after_sixty_days(session: AsyncSession) -> None:
    sanne = await factories.guardian(session, "Sanne", await factories.pupil(session))
    code = await factories.guardian_code(session, sanne, T0)
    with pytest.raises(CodeExpired):
        await linking.redeem(
            session, Actor(telegram_user_id=9, locale="nl"), code, T0 + timedelta(days=60)
        )


async def test_lock_survives_in_the_database_and_blocks_a_right_code(session: AsyncSession) -> None:
    sanne = await factories.guardian(session, "Sanne", await factories.pupil(session))
    code = await factories.guardian_code(session, sanne, T0)
    actor = Actor(telegram_user_id=10, locale="nl")
    for minute in range(5):
        with pytest.raises(CodeUnknown):
            await linking.redeem(session, actor, "ZZZZ-ZZZZ-ZZZZ", T0 + timedelta(minutes=minute))
    with pytest.raises(CodeLocked) as locked:
        await linking.redeem(session, actor, code, T0 + timedelta(minutes=6))
    assert locked.value.until == T0 + timedelta(minutes=19)
    await linking.redeem(session, actor, code, T0 + timedelta(minutes=19))


async def test_staff_and_guardian_roles_on_one_account(session: AsyncSession) -> None:
    emma = await factories.pupil(session)
    juf = await factories.staff_code(session, "Juf Anouk", StaffRole.TEACHER, ["5A"], T0)
    sanne = await factories.guardian(session, "Anouk", emma)
    parent_code = await factories.guardian_code(session, sanne, T0)
    actor = Actor(telegram_user_id=11, locale="nl")
    await linking.redeem(session, actor, juf, T0)
    profile = await linking.redeem(session, actor, parent_code, T0)
    assert profile.role is StaffRole.TEACHER and profile.groups == ("5A",)
    assert [c.first_name for c in profile.children] == ["Emma"]


async def test_unlink_keeps_language_and_data(session: AsyncSession) -> None:
    sanne = await factories.guardian(session, "Sanne", await factories.pupil(session))
    code = await factories.guardian_code(session, sanne, T0)
    actor = Actor(telegram_user_id=12, locale="nl")
    await linking.redeem(session, actor, code, T0)
    await linking.set_locale(session, actor, "en")
    await linking.unlink(session, await load_actor(session, 12, "nl"), T0)
    link = await session.get(ChatLink, 12)
    assert link is not None and link.guardian_id is None and link.locale == "en"
    with pytest.raises(NotLinked):
        await linking.unlink(session, await load_actor(session, 12, "nl"), T0)


async def test_guardian_codes_skip_linked_guardians_and_name_children(
    session: AsyncSession,
) -> None:
    emma = await factories.pupil(session, "Emma")
    daan = await factories.pupil(session, "Daan", group_name="7B")
    sanne = await factories.guardian(session, "Sanne de Vries", emma, daan)
    linked = await factories.guardian(
        session, "Piet Bakker", await factories.pupil(session, "Noor")
    )
    code = await factories.guardian_code(session, linked, T0)
    await linking.redeem(session, Actor(telegram_user_id=13, locale="nl"), code, T0)
    issued = await invites.guardian_codes(session, T0)
    assert [i.name for i in issued] == ["Sanne de Vries"]
    assert set(issued[0].pupils) == {"Emma de Vries (5A)", "Daan de Vries (7B)"}
    assert sanne.id is not None


async def test_add_staff_rejects_unknown_group(session: AsyncSession) -> None:
    with pytest.raises(InvalidInput):
        await invites.add_staff(session, "Juf", StaffRole.TEACHER, ["9Z"], T0)
    with pytest.raises(InvalidInput):
        await invites.add_staff(session, "Juf", StaffRole.TEACHER, [], T0)


def test_fixed_clock_refuses_naive_time() -> None:
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))


async def test_relinking_after_unlinking_in_one_session_shows_the_new_link(
    session: AsyncSession,
) -> None:
    # The link is written as a Core statement: an ORM copy the session held before must
    # not answer with the old state afterwards.
    first = await factories.guardian(session, "Sanne", await factories.pupil(session, "Emma"))
    second = await factories.guardian(session, "Kees", await factories.pupil(session, "Sem"))
    actor = Actor(telegram_user_id=13, locale="nl")
    await linking.redeem(session, actor, await factories.guardian_code(session, first, T0), T0)
    await linking.unlink(session, await load_actor(session, 13, "nl"), T0)
    held = await session.get(ChatLink, 13)
    assert held is not None and held.guardian_id is None
    profile = await linking.redeem(
        session, actor, await factories.guardian_code(session, second, T0), T0
    )
    assert [c.first_name for c in profile.children] == ["Sem"]
    link = await session.get(ChatLink, 13)
    assert link is not None and link.guardian_id == second.id
    invite = (
        await session.exec(select(InviteCode).where(InviteCode.guardian_id == second.id))
    ).one()
    assert invite.used_by == 13
