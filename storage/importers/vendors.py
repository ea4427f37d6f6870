"""Vendor privacy leaflets from YAML: one file, or a folder of them. All or nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Vendor

DATA_FIELDS: tuple[str, ...] = (
    "voornaam",
    "tussenvoegsel",
    "achternaam",
    "geboortedatum",
    "geslacht",
    "leerlingkey",
    "groepskey",
    "groepsnaam",
    "jaargroep",
    "basispoort_id",
    "school_id",
)
REQUIRED = ("key", "name", "supplier", "data_fields")
TEXT_LIMITS = {
    "name": 200,
    "supplier": 200,
    "description": 2000,
    "purpose": 2000,
    "retention": 1000,
    "storage_location": 500,
    "leaflet_url": 500,
}
# Short enough that "v:" + key fits Telegram's 64-byte callback data.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


@dataclass(frozen=True)
class VendorError:
    file: str
    field: str | None
    code: str  # yaml, not_a_mapping, required, key, data_field, date, url, too_long, duplicate
    value: str


class VendorsRejected(Exception):
    def __init__(self, errors: list[VendorError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def _web_link(url: str) -> bool:
    # http as well: the link is copied as the school's privacy statement names it
    # (Basispoort's is http://info.basispoort.nl/privacy); Telegram opens either.
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and "." in host and not any(c.isspace() for c in url)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    return [path]


def _parse(path: Path, errors: list[VendorError]) -> Vendor | None:
    name = path.name
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        errors.append(VendorError(name, None, "yaml", str(error)[:200]))
        return None
    if not isinstance(data, dict):
        errors.append(VendorError(name, None, "not_a_mapping", ""))
        return None
    before = len(errors)
    for field in REQUIRED:
        if not data.get(field):
            errors.append(VendorError(name, field, "required", ""))
    key = str(data.get("key", ""))
    if key and not _KEY.match(key):
        errors.append(VendorError(name, "key", "key", key))
    fields = data.get("data_fields") or []
    if not isinstance(fields, list):
        fields = [fields]
    for field in fields:
        if field not in DATA_FIELDS:
            errors.append(VendorError(name, "data_fields", "data_field", str(field)))
    for field, limit in TEXT_LIMITS.items():
        if len(str(data.get(field) or "")) > limit:
            errors.append(VendorError(name, field, "too_long", str(data[field])[:50]))
    url = str(data.get("leaflet_url") or "").strip()
    if url and not _web_link(url):
        errors.append(VendorError(name, "leaflet_url", "url", url))
    reviewed = data.get("reviewed_on")
    if reviewed is not None and not isinstance(reviewed, date):
        errors.append(VendorError(name, "reviewed_on", "date", str(reviewed)))
    subprocessors = data.get("subprocessors") or []
    if isinstance(subprocessors, str):
        subprocessors = [subprocessors]
    if len(errors) > before:
        return None
    return Vendor(
        key=key,
        name=str(data["name"]),
        supplier=str(data["supplier"]),
        description=str(data.get("description") or "").strip(),
        purpose=str(data.get("purpose") or "").strip(),
        data_fields=",".join(str(f) for f in fields),
        retention=str(data.get("retention") or "").strip(),
        storage_location=str(data.get("storage_location") or "").strip(),
        subprocessors="\n".join(str(s) for s in subprocessors)[:2000],
        leaflet_url=url,
        reviewed_on=reviewed,
    )


async def import_vendors(session: AsyncSession, path: Path) -> list[Vendor]:
    """Adds or replaces every leaflet under `path`; the caller commits."""
    errors: list[VendorError] = []
    vendors: dict[str, Vendor] = {}
    for file in _files(path):
        vendor = _parse(file, errors)
        if vendor is None:
            continue
        if vendor.key in vendors:
            errors.append(VendorError(file.name, "key", "duplicate", vendor.key))
        vendors[vendor.key] = vendor
    if errors:
        raise VendorsRejected(errors)
    for vendor in vendors.values():
        await session.merge(vendor)
    await session.flush()
    return list(vendors.values())
