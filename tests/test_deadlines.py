"""The one-month answer deadline, on the school's calendar."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.deadlines import add_months, answer_due, extended_due


def test_answer_is_due_the_same_day_next_month() -> None:
    assert answer_due(datetime(2026, 11, 2, 9, 0, tzinfo=UTC)) == datetime(
        2026, 12, 2, 9, 0, tzinfo=UTC
    )


def test_a_missing_day_becomes_the_last_day_of_the_month() -> None:
    assert answer_due(datetime(2027, 1, 31, 12, tzinfo=UTC)).day == 28
    assert answer_due(datetime(2028, 1, 31, 12, tzinfo=UTC)).day == 29


def test_late_evening_counts_on_the_dutch_date() -> None:
    # 23:30 UTC on 31 March is already 1 April in Amsterdam: due on 1 May, local time.
    due = answer_due(datetime(2027, 3, 31, 23, 30, tzinfo=UTC))
    assert due == datetime(2027, 4, 30, 23, 30, tzinfo=UTC)


def test_extension_adds_two_months_and_crosses_the_year() -> None:
    assert extended_due(datetime(2026, 11, 30, 10, tzinfo=UTC)) == datetime(
        2027, 2, 28, 10, tzinfo=UTC
    )
    assert add_months(datetime(2026, 12, 15, 10, tzinfo=UTC), 1).year == 2027
