"""What each step of a parent's request form offers, decided here so bot/ only shows it:
the child (reached only through the guardian's own children), the options to choose
from next, the stored values a correction starts from, and whether the free text is
required."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from flows.access import own_child
from flows.actor import Actor
from flows.errors import NotFound
from flows.linking import full_name
from flows.requests.drafts import (
    CORRECTABLE_FIELDS,
    DELETION_OTHER,
    FORM_FIELDS,
    REQUIRED_FIELDS,
    deletable_for,
    stored_value,
)
from flows.requests.rules import UnknownKind, kind_of
from storage.models import DeletionGround, RequestKind, StaffRole


@dataclass(frozen=True)
class Step:
    pupil_id: int
    child: str  # the child's full name
    options: tuple[str, ...]  # what the parent chooses from next; () when text comes next
    text_required: bool
    # The correction fields' stored values ("" when empty), for "now: …" lines.
    current: Mapping[str, str] = field(default_factory=dict)
    # Deletion: what the school must keep (not offered; the form offers a correction).
    kept: tuple[str, ...] = ()


async def offer(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    kind: RequestKind | str,
    *,
    what: str | None = None,
    ground: str | None = None,
) -> Step:
    """The next step of a form for `kind` about the child; NotFound for a child that is
    not the actor's. For a deletion, `what` and then `ground` are the choices made; a
    `what` the form does not offer for this child is NotFound."""
    spec = kind_of(kind)
    pupil = await own_child(session, actor, pupil_id)
    child = full_name(pupil)
    if spec.kind is RequestKind.CORRECTION:
        current = {f: stored_value(pupil, f) for f in CORRECTABLE_FIELDS}
        return Step(pupil_id, child, FORM_FIELDS, spec.text_required, current)
    if spec.kind is RequestKind.DELETION:
        offered = deletable_for(pupil)
        if what is None:
            return Step(pupil_id, child, offered, spec.text_required, kept=REQUIRED_FIELDS)
        if what not in offered:
            # An old or forged button: the child has no such data, or it must be kept.
            raise NotFound()
        if ground is None:
            return Step(pupil_id, child, tuple(g.value for g in DeletionGround), False)
        # "Something else" needs words: the director must know what to delete.
        required = what == DELETION_OTHER or ground == DeletionGround.OTHER.value
        return Step(pupil_id, child, (), required)
    if spec.kind is RequestKind.QUESTION:
        roles = (StaffRole.TEACHER.value, StaffRole.DIRECTOR.value)
        return Step(pupil_id, child, roles, spec.text_required)
    if spec.kind is RequestKind.ACCESS:
        return Step(pupil_id, child, (), spec.text_required)
    raise UnknownKind(spec.kind)
