"""A copy of everything the school holds about a child, for its guardian (GDPR Art. 15(3)).

Special category data is never part of it, exactly as in the inzage: only the fact that
some is recorded, so the parent knows to ask the director for a formal inzage. The pupil's
own fields go through an explicit list (inzage.field_values), never the Pupil row, so a
column added later does not end up in a copy by accident."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from flows import audit, consent, requests
from flows.actor import Actor
from flows.audit import AuditAction
from flows.clock import SCHOOL_TZ
from flows.consent import HistoryEntry
from flows.disclosures import DisclosureView
from flows.inzage import ChildRecord, child_record, field_values
from flows.requests import RequestSummary
from flows.scope import own_child

# The pupil's own fields in a copy, in the order a reader expects them (vendor field names,
# which bot/labels.py translates). The school's number is not a pupil field.
PUPIL_FIELDS: tuple[str, ...] = (
    "voornaam",
    "tussenvoegsel",
    "achternaam",
    "geboortedatum",
    "geslacht",
    "groepsnaam",
    "jaargroep",
    "leerlingkey",
    "groepskey",
    "basispoort_id",
)


@dataclass(frozen=True)
class ChildExport:
    record: ChildRecord
    # (field, value) for PUPIL_FIELDS; a value is None when not recorded.
    pupil_fields: tuple[tuple[str, Any], ...]
    consent_history: tuple[HistoryEntry, ...]  # newest first
    requests: tuple[RequestSummary, ...]  # newest first, also the other guardian's
    disclosures: tuple[DisclosureView, ...]  # newest first
    generated_at: datetime
    school: str = ""

    def field(self, name: str) -> Any:
        return dict(self.pupil_fields).get(name)


async def child_export(
    session: AsyncSession,
    actor: Actor,
    pupil_id: int,
    channels: tuple[str, ...],
    now: datetime,
    *,
    school: str = "",
) -> ChildExport:
    """Everything for the copy; NotFound for a child that is not the actor's."""
    # child_record checks access first: a forged id stops here with NotFound.
    record = await child_record(session, actor, pupil_id, channels)
    pupil = await own_child(session, actor, pupil_id)
    values = field_values(pupil)
    summaries = await requests.list_for_guardian(session, actor)
    await audit.record(session, actor, AuditAction.COPY_DOWNLOADED, now, pupil_id=pupil_id)
    return ChildExport(
        record=record,
        pupil_fields=tuple((f, values.get(f)) for f in PUPIL_FIELDS),
        consent_history=tuple(await consent.history(session, actor, pupil_id)),
        requests=tuple(s for s in summaries if s.pupil_id == pupil_id),
        disclosures=record.disclosures,
        generated_at=now,
        school=school,
    )


def aware(moment: datetime) -> datetime:
    """A time on the school's clock, with its offset (naive values are taken as UTC, as
    SQLite hands them back)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SCHOOL_TZ)


def _iso(moment: datetime | None) -> str | None:
    return aware(moment).isoformat() if moment is not None else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def export_dict(export: ChildExport) -> dict[str, Any]:
    """The copy as plain data with stable English keys (what export_json writes)."""
    r = export.record
    return {
        "generated_at": _iso(export.generated_at),
        "school": export.school,
        "pupil": {
            "leerlingnummer": r.leerlingnummer,
            "first_name": export.field("voornaam"),
            "tussenvoegsel": export.field("tussenvoegsel"),
            "last_name": export.field("achternaam"),
            "full_name": r.full_name,
            "birth_date": r.birth_date.isoformat(),
            "gender": r.gender,
            "group": r.group,
            "jaargroep": r.jaargroep,
            "leerlingkey": export.field("leerlingkey"),
            "groepskey": export.field("groepskey"),
            "basispoort_id": export.field("basispoort_id"),
            # Fields under a restriction in effect: kept, but the school may not use them.
            "restricted": sorted(r.marked),
        },
        "guardians": list(r.guardians),
        "consent": {s.channel: {"granted": s.granted, "since": _iso(s.since)} for s in r.consent},
        "consent_history": [
            {
                "channel": e.channel,
                "granted": e.granted,
                "at": _iso(e.at),
                "source": str(e.source),
                "by_you": e.by_you,
                "by": e.by_name,
            }
            for e in export.consent_history
        ],
        "vendors": [
            {
                "key": share.vendor.key,
                "name": share.vendor.name,
                "supplier": share.vendor.supplier,
                "purpose": share.vendor.purpose,
                "leaflet_url": share.vendor.leaflet_url,
                "fields": {f: _plain(v) for f, v in share.values},
                # Set when the parents' objection against this supplier was upheld.
                "stopped_since": _iso(share.stopped_since),
            }
            for share in r.vendors
        ],
        "disclosures": [
            {
                "disclosed_on": d.disclosed_on.isoformat(),
                "recipient": d.recipient,
                "legal_ground": d.legal_ground,
                "description": d.description,
                "stopped_since": _iso(d.stopped_since),
            }
            for d in export.disclosures
        ],
        "requests": [
            {
                "reference": q.reference,
                "kind": str(q.kind),
                "status": str(q.status),
                "received_at": _iso(q.received_at),
                "due_at": _iso(q.due_at),
                "extended": q.extended,
                "by_you": q.by_you,
            }
            for q in export.requests
        ],
        "special_category_recorded": r.has_special_category,
    }


def export_json(export: ChildExport) -> bytes:
    """Machine-readable copy: UTF-8 JSON, indented, never special category data."""
    text = json.dumps(export_dict(export), ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")
