"""The school's EDEXML export as one import: pupils, groups and guardians through the
importer's guards, and the teachers in the file as staff, in the caller's transaction
(all or nothing: the caller commits, or rolls back for a dry run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from flows.staff_admin import TeacherRecord, TeacherSync, sync_teachers
from storage.importers.edexml import EdexImport, import_edexml


@dataclass(frozen=True)
class SchoolImport:
    pupils: EdexImport
    teachers: TeacherSync


async def import_school(
    session: AsyncSession,
    xml: bytes,
    guardians: str,
    now: datetime,
    *,
    xml_name: str,
    guardians_name: str,
    channels: Sequence[str],
    email_match: bool,
    confirm_left: bool = False,
) -> SchoolImport:
    pupils = await import_edexml(
        session,
        xml,
        guardians,
        now,
        xml_name=xml_name,
        guardians_name=guardians_name,
        channels=channels,
        email_match=email_match,
        confirm_left=confirm_left,
    )
    groups = {key: group.naam for key, group in pupils.groups.items()}
    records = [
        TeacherRecord(t.key, t.name, tuple(groups[k] for k in t.group_keys))
        for t in pupils.teachers
    ]
    return SchoolImport(pupils, await sync_teachers(session, records, now))
