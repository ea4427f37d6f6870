"""Suppliers that receive pupil data, and what their privacy leaflets say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from flows.errors import NotFound, NotLinked
from storage import catalog
from storage.models import Vendor


@dataclass(frozen=True)
class VendorCard:
    key: str
    name: str
    supplier: str
    description: str
    purpose: str
    data_fields: tuple[str, ...]
    retention: str
    storage_location: str
    subprocessors: tuple[str, ...]
    leaflet_url: str
    reviewed_on: date | None


def _card(vendor: Vendor) -> VendorCard:
    return VendorCard(
        key=vendor.key,
        name=vendor.name,
        supplier=vendor.supplier,
        description=vendor.description,
        purpose=vendor.purpose,
        data_fields=tuple(f for f in vendor.data_fields.split(",") if f),
        retention=vendor.retention,
        storage_location=vendor.storage_location,
        subprocessors=tuple(s for s in vendor.subprocessors.splitlines() if s),
        leaflet_url=vendor.leaflet_url,
        reviewed_on=vendor.reviewed_on,
    )


def _require_linked(actor: Actor) -> None:
    # The leaflets are not secret, but the bot is for the school's own families and staff.
    if not actor.is_linked:
        raise NotLinked()


async def list_vendors(session: AsyncSession, actor: Actor) -> list[VendorCard]:
    _require_linked(actor)

    async def load() -> list[VendorCard]:
        rows = await session.exec(select(Vendor).order_by(col(Vendor.name)))
        return [_card(v) for v in rows.all()]

    return list(await catalog.cached(session, "vendor", load))


async def get_vendor(session: AsyncSession, actor: Actor, key: str) -> VendorCard:
    _require_linked(actor)
    for card in await list_vendors(session, actor):
        if card.key == key:
            return card
    raise NotFound()
