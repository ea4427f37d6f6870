"""Disclosures: data the school gave to another organisation (leerplichtambtenaar,
ministerie van OCW, ...), registered so a parent can see what went where and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select
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


async def list_for_child(
    session: AsyncSession, actor: Actor, pupil_id: int
) -> list[DisclosureView]:
    """The child's registered disclosures, newest first; NotFound for a child that is
    not the actor's."""
    await own_child(session, actor, pupil_id)
    rows = await session.exec(
        select(Disclosure)
        .where(Disclosure.pupil_id == pupil_id)
        .order_by(col(Disclosure.disclosed_on).desc(), col(Disclosure.id).desc())
    )
    return [
        DisclosureView(d.disclosed_on, d.recipient, d.legal_ground, d.description, d.id or 0)
        for d in rows.all()
    ]


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
        audit.record(
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
