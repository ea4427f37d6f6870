"""The one rule of what may be done with a request (flows.requests.rules): the table of
kinds covers every kind, an unknown kind raises instead of falling through, and what
`allowed` offers is exactly what `require` lets through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows import requests
from flows.actor import Actor
from flows.deadlines import answer_due
from flows.errors import DomainError, InvalidInput, NotAllowed
from flows.requests import KINDS, Action, UnknownKind, allowed, kind_of, require
from storage.models import Request, RequestKind, RequestStatus, StaffRole

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ASKER = Actor(telegram_user_id=1, locale="nl", guardian_id=1)
OTHER_PARENT = Actor(telegram_user_id=2, locale="nl", guardian_id=2)
TEACHER = Actor(telegram_user_id=3, locale="nl", staff_id=3, role=StaffRole.TEACHER)
DIRECTOR = Actor(telegram_user_id=4, locale="nl", staff_id=4, role=StaffRole.DIRECTOR)


def _request(kind: RequestKind, status: RequestStatus, **fields: object) -> Request:
    return Request(
        reference="OL-2026-0001",
        pupil_id=1,
        guardian_id=1,
        kind=kind,
        status=status,
        assignee_staff_id=fields.pop("assignee_staff_id", 3),
        assignee_role=fields.pop("assignee_role", StaffRole.TEACHER),
        received_at=NOW - timedelta(days=1),
        due_at=answer_due(NOW - timedelta(days=1)),
        **fields,
    )


def test_every_kind_has_one_row_in_the_table() -> None:
    assert set(KINDS) == set(RequestKind)
    for kind, row in KINDS.items():
        assert row.kind is kind


def test_an_unknown_kind_raises_instead_of_falling_through() -> None:
    with pytest.raises(UnknownKind):
        kind_of("objection-to-everything")


async def test_creating_an_unknown_kind_raises_before_anything_is_stored() -> None:
    with pytest.raises(UnknownKind):
        draft = requests.Draft("nonsense", 1, text="x")
        await requests.create(None, ASKER, draft, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("status", list(RequestStatus))
@pytest.mark.parametrize("actor", [ASKER, OTHER_PARENT, TEACHER, DIRECTOR])
def test_what_the_card_offers_is_what_the_guard_lets_through(
    kind: RequestKind, status: RequestStatus, actor: Actor
) -> None:
    request = _request(kind, status)
    offered = allowed(actor, request, NOW)
    for action in Action:
        if action in offered:
            require(actor, request, NOW, action)
        else:
            with pytest.raises(DomainError):
                require(actor, request, NOW, action)


def test_a_deletion_waits_for_the_director_and_only_the_director_approves_it() -> None:
    deletion = _request(RequestKind.DELETION, RequestStatus.WAITING_APPROVAL)
    assert Action.APPROVE in allowed(DIRECTOR, deletion, NOW)
    assert Action.RESOLVE not in allowed(TEACHER, deletion, NOW)
    with pytest.raises(InvalidInput) as waiting:
        require(TEACHER, deletion, NOW, Action.RESOLVE)
    assert waiting.value.reason == "awaiting_director"
    with pytest.raises(NotAllowed):
        require(TEACHER, deletion, NOW, Action.APPROVE)


def test_only_the_asker_withdraws_and_not_after_a_decision() -> None:
    question = _request(RequestKind.QUESTION, RequestStatus.OPEN)
    assert allowed(ASKER, question, NOW) == {Action.ADD_MESSAGE, Action.WITHDRAW}
    assert allowed(OTHER_PARENT, question, NOW) == {Action.ADD_MESSAGE}
    decided = _request(RequestKind.QUESTION, RequestStatus.RESOLVED, decided_at=NOW)
    assert allowed(ASKER, decided, NOW) == frozenset()


def test_a_deadline_is_extended_once_and_only_within_the_first_month() -> None:
    correction = _request(RequestKind.CORRECTION, RequestStatus.OPEN)
    assert Action.EXTEND in allowed(DIRECTOR, correction, NOW)
    assert Action.EXTEND not in allowed(TEACHER, correction, NOW)
    late = NOW + timedelta(days=40)
    with pytest.raises(InvalidInput) as too_late:
        require(DIRECTOR, correction, late, Action.EXTEND)
    assert too_late.value.reason == "too_late"


def test_a_question_is_answered_once_and_has_no_deadline_to_extend() -> None:
    question = _request(RequestKind.QUESTION, RequestStatus.IN_PROGRESS)
    # Answering it resolves it: no separate message first, no second answer to close it.
    assert Action.RESOLVE in allowed(TEACHER, question, NOW)
    assert Action.REPLY not in allowed(TEACHER, question, NOW)
    assert Action.EXTEND not in allowed(DIRECTOR, question, NOW)
    with pytest.raises(NotAllowed):
        require(DIRECTOR, question, NOW, Action.EXTEND)
