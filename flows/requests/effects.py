"""What a decision does, per kind: the row in flows.requests.rules names its Effect, and
this table carries it out in the decision's own transaction, so a right the parent is
granted holds by the time anyone is told. flows.requests.commands records the decision,
calls the effect, and tells the parents; an effect never commits.

A new effect is a member of rules.Effect, a function here and a row in EFFECTS; the test
walking every kind × decision finds one missing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, checklist, erasure
from flows.actor import Actor
from flows.audit import AuditAction
from flows.erasure import ApprovedErasure
from flows.notify import Notice
from flows.requests.drafts import (
    DELETION_NOTE,
    DELETION_OTHER,
    DELETION_PHOTOS,
    OPTIONAL_FIELDS,
    PROCESSING_PHOTOS,
    split_surname,
    stored_value,
    today,
    validate_correction,
)
from flows.requests.rules import Effect, kind_of
from storage.models import (
    ChecklistAction,
    ConsentSource,
    ParnasSysTask,
    Pupil,
    Request,
    Vendor,
)

# The pupil fields an approved deletion empties (flows.erasure.erase_approved).
_ERASABLE_FIELDS: frozenset[str] = frozenset({*OPTIONAL_FIELDS, DELETION_NOTE})


@dataclass(frozen=True)
class Decision:
    """A request just decided in favour of the parent (resolved or approved)."""

    session: AsyncSession
    actor: Actor
    request: Request
    pupil: Pupil
    now: datetime
    # The school's consent channels (an effect on photos refuses every one).
    channels: Sequence[str] = ()


@dataclass(frozen=True)
class Outcome:
    """What an effect did, for the member of staff's confirmation and the parents'
    notification (`notice`: extra words for it)."""

    applied_field: str | None = None  # the pupil field changed in the store
    old_value: str | None = None
    new_value: str | None = None
    vendors: tuple[str, ...] = ()  # who receives that field and must be told (Art. 19)
    erased: ApprovedErasure | None = None
    task_due: datetime | None = None  # the director's checklist item, when there is one
    # The effect wrote its own audit line (an erasure names what it erased).
    audited: bool = False
    notice: Mapping[str, Any] = field(default_factory=dict)


DecideFn = Callable[[Decision], Awaitable[Outcome]]
LiftFn = Callable[[Decision], Awaitable[None]]


async def vendors_receiving(session: AsyncSession, field_: str | None) -> tuple[str, ...]:
    if not field_:
        return ()
    rows = await session.exec(select(Vendor).order_by(col(Vendor.name)))
    return tuple(v.name for v in rows.all() if field_ in v.data_fields.split(","))


async def _answer_only(d: Decision) -> Outcome:
    return Outcome()


async def _correct(d: Decision) -> Outcome:
    """The asked value replaces the stored one; the import from ParnasSys would put the
    old value back, so the director's checklist says to change it there too."""
    request, pupil = d.request, d.pupil
    applied = request.field
    if not applied:
        return Outcome()
    old = stored_value(pupil, applied)
    # Validated when asked; again here, so nothing invalid ever reaches the store.
    new = validate_correction(applied, request.new_value or "", today=today(d.now))
    if applied == "geboortedatum":
        pupil.geboortedatum = date.fromisoformat(new)
    elif applied == "achternaam":
        # Asked as the whole surname: "de Vries-Jansen" is "de" + "Vries-Jansen".
        pupil.tussenvoegsel, pupil.achternaam = split_surname(new)
    else:
        setattr(pupil, applied, new)
    d.session.add(pupil)
    task_due = checklist.add(d.session, request, pupil, applied, ChecklistAction.CORRECT, d.now)
    return Outcome(
        applied_field=applied,
        old_value=old,
        new_value=new,
        vendors=await vendors_receiving(d.session, applied),
        task_due=task_due,
        notice={"effect": "changed", "about": applied},
    )


async def _erase(d: Decision) -> Outcome:
    """An approved deletion: in the same transaction the bot erases exactly what was
    approved (flows.erasure.erase_approved). The audit keeps who decided what and when,
    never the erased value."""
    request, pupil = d.request, d.pupil
    what = request.what or DELETION_OTHER
    done = await erasure.erase_approved(
        d.session, d.actor, request, pupil, d.now, channels=d.channels
    )
    await audit.record(
        d.session,
        d.actor,
        AuditAction.DELETION_APPROVED,
        d.now,
        pupil_id=pupil.id,
        detail=f"{request.reference} {what}",
    )
    applied = what if what in _ERASABLE_FIELDS and done.removed_in_bot else None
    vendors = (
        await vendors_receiving(d.session, what)
        if what not in (DELETION_PHOTOS, DELETION_OTHER)
        else ()
    )
    return Outcome(
        applied_field=applied,
        vendors=vendors,
        erased=done,
        task_due=done.task_due,
        audited=True,
        notice={
            "erased": what,
            "removed_in_bot": done.removed_in_bot,
            "deleted_in_chat": done.in_chat.queued,
            "kept_in_chat": done.in_chat.too_old,
        },
    )


async def _object(d: Decision) -> Outcome:
    """An upheld objection stops that use of the child's data. Photos: refused on every
    channel as if the parent withdrew each (with its history line), the group's teachers
    told, and published images on the checklist to take down. A supplier or a
    disclosure: shown as stopped for this child from now (flows.requests.in_force), and
    the checklist says to tell them."""
    request, pupil = d.request, d.pupil
    if request.what == PROCESSING_PHOTOS:
        refused = await erasure.refuse_every_channel(
            d.session, d.actor, request, pupil, d.now, d.channels, ConsentSource.OBJECTION
        )
        told = await erasure.tell_teachers(d.session, pupil, d.now, Notice.PHOTOS_OBJECTION_STAFF)
        task_due = checklist.add(
            d.session, request, pupil, DELETION_PHOTOS, ChecklistAction.DELETE, d.now
        )
        return Outcome(
            task_due=task_due,
            notice={"effect": "photos", "refused": len(refused), "teachers": told},
        )
    task_due = checklist.add(
        d.session, request, pupil, request.what or "", ChecklistAction.TELL, d.now
    )
    return Outcome(task_due=task_due, notice={"effect": "stopped", "about": request.subject or ""})


async def _restrict(d: Decision) -> Outcome:
    """The field is marked as restricted wherever it is shown (in_force) until lifted;
    ParnasSys knows nothing of it, so the checklist says to restrict it there."""
    task_due = checklist.add(
        d.session, d.request, d.pupil, d.request.field or "", ChecklistAction.RESTRICT, d.now
    )
    return Outcome(task_due=task_due, notice={"effect": "restricted", "about": d.request.field})


async def _unrestrict(d: Decision) -> None:
    """Lifted: every mark goes with lifted_at (in_force reads it). A checklist item not
    yet done is no longer needed; one done asks to end the restriction in ParnasSys."""
    task = (
        await d.session.exec(select(ParnasSysTask).where(ParnasSysTask.request_id == d.request.id))
    ).first()
    if task is None:
        return
    if task.done_at is None:
        await d.session.delete(task)
        return
    task.action = ChecklistAction.UNRESTRICT
    task.done_at = task.done_by = None
    task.created_at = d.now
    task.due_at = d.now + timedelta(days=checklist.PARNASSYS_DAYS)
    d.session.add(task)


@dataclass(frozen=True)
class Effects:
    decide: DecideFn
    lift: LiftFn | None = None  # a lasting effect ends; None: nothing to undo


EFFECTS: dict[Effect, Effects] = {
    Effect.ANSWER_ONLY: Effects(_answer_only),
    Effect.CORRECT: Effects(_correct),
    Effect.ERASE: Effects(_erase),
    Effect.OBJECT: Effects(_object),
    Effect.RESTRICT: Effects(_restrict, lift=_unrestrict),
}


async def decide(d: Decision) -> Outcome:
    return await EFFECTS[kind_of(d.request).effect].decide(d)


async def lift(d: Decision) -> None:
    undo = EFFECTS[kind_of(d.request).effect].lift
    if undo is not None:
        await undo(d)
