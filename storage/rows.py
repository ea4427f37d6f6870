"""A pupil and their group as plain rows, for the reads of the hot path.

An update reads who is asking, with their children, as Core rows (flows.actor.arrive):
turning them into ORM objects cost more than the read itself, and the parent's screens
only read them. A flow that changes a pupil gets the ORM object (session.get) as before.
The Protocols say what a flow reads of a pupil or a group, so it takes either kind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Column

from storage.models import Pupil, SchoolGroup


class PupilFacts(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def leerlingnummer(self) -> str: ...
    @property
    def voornaam(self) -> str: ...
    @property
    def tussenvoegsel(self) -> str: ...
    @property
    def achternaam(self) -> str: ...
    @property
    def geboortedatum(self) -> date: ...
    @property
    def geslacht(self) -> str: ...
    @property
    def group_id(self) -> int: ...
    @property
    def jaargroep(self) -> int: ...
    @property
    def leerlingkey(self) -> str | None: ...
    @property
    def basispoort_id(self) -> str | None: ...
    @property
    def bijzonderheden(self) -> str | None: ...
    @property
    def left_at(self) -> datetime | None: ...


class GroupFacts(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def groepskey(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class GroupRow:
    id: int
    name: str
    groepskey: str | None


@dataclass(frozen=True, slots=True)
class PupilRow:
    """Every column of the pupil, and the pupil's group."""

    id: int
    leerlingnummer: str
    voornaam: str
    tussenvoegsel: str
    achternaam: str
    geboortedatum: date
    geslacht: str
    group_id: int
    jaargroep: int
    leerlingkey: str | None
    basispoort_id: str | None
    bijzonderheden: str | None
    left_at: datetime | None
    group: GroupRow


_PUPIL = tuple(c.name for c in Pupil.__table__.columns)  # type: ignore[attr-defined]
_GROUP = tuple(c.name for c in SchoolGroup.__table__.columns)  # type: ignore[attr-defined]
# The pupil's columns, then the group's, in the order pupil_row reads them.
COLUMNS: tuple[Column[Any], ...] = (
    *(Pupil.__table__.c[name] for name in _PUPIL),  # type: ignore[attr-defined]
    *(SchoolGroup.__table__.c[name] for name in _GROUP),  # type: ignore[attr-defined]
)
WIDTH = len(COLUMNS)


def pupil_row(values: Sequence[Any]) -> PupilRow | None:
    """The row from COLUMNS' values (a slice of a wider row); None where an outer join
    found no pupil with a group."""
    if values[0] is None or values[len(_PUPIL)] is None:
        return None
    group = GroupRow(**dict(zip(_GROUP, values[len(_PUPIL) : WIDTH], strict=True)))
    return PupilRow(**dict(zip(_PUPIL, values[: len(_PUPIL)], strict=True)), group=group)
