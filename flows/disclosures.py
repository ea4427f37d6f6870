"""Disclosures: data the school gave to another organisation (leerplichtambtenaar,
ministerie van OCW, ...), registered so a parent can see what went where and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit
from flows.actor import Actor
from flows.audit import AuditAction
from flows.errors import InvalidInput, NotFound
from flows.linking import full_name
from flows.scope import own_child
from storage.models import Disclosure, Pupil


@dataclass(frozen=True)
class DisclosureView:
    disclosed_on: date
    recipient: str
    legal_ground: str
    description: str
    id: int = 0
    # Since when it no longer happens: the director upheld an objection against it.
    stopped_since: datetime | None = None


# A DisclosureView's fields in its order, of the child as a bound parameter ("pupil_id"),
# built once; the inzage reads FOR_CHILD in its one statement (flows.inzage) in the
# order NEWEST_FIRST.
FOR_CHILD = core_select(
    col(Disclosure.disclosed_on),
    col(Disclosure.recipient),
    col(Disclosure.legal_ground),
    col(Disclosure.description),
    col(Disclosure.id),
).where(col(Disclosure.pupil_id) == bindparam("pupil_id"))
NEWEST_FIRST = (col(Disclosure.disclosed_on).desc(), col(Disclosure.id).desc())
_LIST = FOR_CHILD.order_by(*NEWEST_FIRST)


async def list_for_child(
    session: AsyncSession, actor: Actor, pupil_id: int
) -> list[DisclosureView]:
    """The child's registered disclosures, newest first; NotFound for a child that is
    not the actor's."""
    await own_child(session, actor, pupil_id)
    rows = await session.exec(cast(Any, _LIST), params={"pupil_id": pupil_id})
    return [DisclosureView(*row) for row in rows.all()]


def _required(value: str, limit: int) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise InvalidInput("empty")
    if len(cleaned) > limit:
        raise InvalidInput("too_long")
    return cleaned


async def register(
    session: AsyncSession,
    pupil_id: int,
    recipient: str,
    disclosed_on: date,
    legal_ground: str,
    description: str = "",
    *,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Disclosure:
    """Registers a disclosure, for staff and the command line (authorization is the
    caller's). With `now`, an audit event is written in the same transaction."""
    if await session.get(Pupil, pupil_id) is None:
        raise NotFound()
    about = (description or "").strip()
    if len(about) > 2000:
        raise InvalidInput("too_long")
    disclosure = Disclosure(
        pupil_id=pupil_id,
        recipient=_required(recipient, 200),
        disclosed_on=disclosed_on,
        legal_ground=_required(legal_ground, 500),
        description=about,
    )
    session.add(disclosure)
    if now is not None:
        await audit.record(
            session,
            actor,
            AuditAction.DISCLOSURE_REGISTERED,
            now,
            pupil_id=pupil_id,
            detail=f"{disclosure.recipient} {disclosed_on.isoformat()}",
        )
    await session.flush()
    return disclosure


async def for_child_screen(
    session: AsyncSession, actor: Actor, pupil_id: int
) -> tuple[str, list[DisclosureView]]:
    """The child's full name and disclosures, for the Delen screen."""
    pupil = await own_child(session, actor, pupil_id)
    return full_name(pupil), await list_for_child(session, actor, pupil_id)
