"""GDPR deadlines: an answer is due one calendar month after receipt (Art. 12(3)),
extendable by two months."""

from __future__ import annotations

import calendar
from datetime import datetime

from flows.clock import SCHOOL_TZ


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later on the school's calendar; a day that month lacks
    (31 January + 1) becomes its last day (28 or 29 February)."""
    local = moment.astimezone(SCHOOL_TZ)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(moment.tzinfo)


def answer_due(received_at: datetime) -> datetime:
    return add_months(received_at, 1)


def extended_due(received_at: datetime) -> datetime:
    return add_months(received_at, 3)
