"""What the school holds about a child, as its guardian may see it (inzage).
Special category data is never part of it: only the fact that some is recorded."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows import consent, disclosures
from flows.actor import Actor, Alongside, Read, read_alongside
from flows.disclosures import DisclosureView
from flows.linking import full_name
from flows.requests import views as request_views
from flows.requests.views import ChildRequest
from flows.scope import own_child
from flows.vendors import VendorCard, list_vendors
from storage.db import core, side_by_side
from storage.models import Guardian, GuardianPupil
from storage.prepared import Prepared
from storage.rows import PupilRow


@dataclass(frozen=True)
class VendorShare:
    vendor: VendorCard
    values: tuple[tuple[str, Any], ...]  # (field, the child's value or None)
    # Since when the supplier no longer receives them: an objection was upheld.
    stopped_since: datetime | None = None


@dataclass(frozen=True)
class ChildRecord:
    pupil_id: int
    first_name: str
    full_name: str
    birth_date: date
    gender: str
    leerlingnummer: str
    group: str
    jaargroep: int
    guardians: tuple[str, ...]
    consent: tuple[consent.ChannelState, ...]
    vendors: tuple[VendorShare, ...]
    has_special_category: bool
    disclosures: tuple[DisclosureView, ...] = ()
    open_requests: tuple[ChildRequest, ...] = ()
    # Fields under a restriction in effect (flows.requests.in_force): marked, not hidden.
    marked: frozenset[str] = frozenset()

    @property
    def receiving(self) -> tuple[VendorShare, ...]:
        """The suppliers that still receive the child's data."""
        return tuple(s for s in self.vendors if s.stopped_since is None)

    @property
    def stopped(self) -> tuple[VendorShare, ...]:
        return tuple(s for s in self.vendors if s.stopped_since is not None)


def field_values(pupil: PupilRow) -> dict[str, Any]:
    """The value of every vendor data field for this pupil (None when not recorded)."""
    return {
        "voornaam": pupil.voornaam,
        "tussenvoegsel": pupil.tussenvoegsel or None,
        "achternaam": pupil.achternaam,
        "geboortedatum": pupil.geboortedatum,
        "geslacht": pupil.geslacht,
        "leerlingkey": pupil.leerlingkey,
        "groepskey": pupil.group.groepskey,
        "groepsnaam": pupil.group.name,
        "jaargroep": pupil.jaargroep,
        "basispoort_id": pupil.basispoort_id,
        # The school's own number is not in the pupil export.
        "school_id": None,
    }


_GUARDIANS = (
    select(col(Guardian.name))
    .join(GuardianPupil, col(GuardianPupil.guardian_id) == col(Guardian.id))
    .where(col(GuardianPupil.pupil_id) == bindparam("pupil_id"))
)

# Everything the record needs besides the pupil (own_child has it, with the group) and
# the leaflets (cached), in one statement, each read in its own order.
_READS: dict[str, Read] = {
    "guardian": (_GUARDIANS, (col(Guardian.name),)),
    "request": (request_views.CHILD_REQUESTS, request_views.OLDEST_FIRST),
    "disclosure": (disclosures.FOR_CHILD, disclosures.NEWEST_FIRST),
    "consent": (consent.FOR_PUPIL, consent.OLDEST_FIRST),
}
_RECORD = side_by_side(_READS)
_READ_RECORD = Prepared(_RECORD.statement)
# The same reads in the statement the update starts with, for a press of Mijn gegevens
# (bot.middlewares): one statement fewer for the screen parents open most.
RECORD = Alongside(_READS)


async def child_record(
    session: AsyncSession, actor: Actor, pupil_id: int, channels: tuple[str, ...]
) -> ChildRecord:
    # Access first: a forged id stops here with NotFound, before anything is read.
    pupil = await own_child(session, actor, pupil_id)
    found = read_alongside(session, RECORD, pupil_id)
    if found is None:
        found = _RECORD.split(await _READ_RECORD.rows(await core(session), {"pupil_id": pupil_id}))
    # consent.state below answers from these, as consent.choose would after it.
    consent.remember(session, pupil_id, found["consent"])
    values = field_values(pupil)
    known = request_views.child_requests(found["request"], actor.guardian_id)
    force = known.force
    shares = tuple(
        VendorShare(
            card,
            tuple((f, values.get(f)) for f in card.data_fields),
            force.stopped.get(f"vendor.{card.key}"),
        )
        for card in await list_vendors(session, actor)
    )
    given = [DisclosureView(*row) for row in found["disclosure"]]
    return ChildRecord(
        pupil_id=pupil_id,
        first_name=pupil.voornaam,
        full_name=full_name(pupil),
        birth_date=pupil.geboortedatum,
        gender=pupil.geslacht,
        leerlingnummer=pupil.leerlingnummer,
        group=pupil.group.name,
        jaargroep=pupil.jaargroep,
        guardians=tuple(name for (name,) in found["guardian"]),
        consent=tuple(await consent.state(session, actor, pupil_id, channels)),
        vendors=shares,
        has_special_category=bool((pupil.bijzonderheden or "").strip()),
        disclosures=tuple(
            replace(d, stopped_since=force.stopped.get(f"disclosure.{d.id}")) for d in given
        ),
        open_requests=known.open,
        marked=force.marked,
    )
