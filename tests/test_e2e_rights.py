"""The two rights added as data after the request core: an objection (Art. 21) and a
restriction of processing (Art. 18). Each over the emulator from the parent to the
director and back, in Dutch and in English, and its row in the table of kinds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.actor import Actor
from flows.deadlines import answer_due
from flows.errors import InvalidInput
from flows.requests import KINDS, Action, Draft, allowed, kind_of
from storage.models import Request, RequestKind, RequestStatus, StaffRole
from tests.e2e import World, running_bot
from tests.test_e2e import assert_telegram_accepted_everything

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ASKER = Actor(telegram_user_id=1, locale="nl", guardian_id=1)
TEACHER = Actor(telegram_user_id=3, locale="nl", staff_id=3, role=StaffRole.TEACHER)
DIRECTOR = Actor(telegram_user_id=4, locale="nl", staff_id=4, role=StaffRole.DIRECTOR)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, "polling") as world:
        yield world


def _request(kind: RequestKind, status: RequestStatus, **fields: object) -> Request:
    return Request(
        reference="OL-2026-0001",
        pupil_id=1,
        guardian_id=1,
        kind=kind,
        status=status,
        assignee_staff_id=4,
        assignee_role=StaffRole.DIRECTOR,
        received_at=NOW - timedelta(days=1),
        due_at=answer_due(NOW - timedelta(days=1)),
        **fields,
    )


def _reference(text: str, marker: str) -> str:
    return text.split(marker)[1].split(".")[0]


async def _in_english(world: World, name: str) -> None:
    person = world.person(name)
    await person.press("Taal / Language")
    await person.press("English")
    await person.send("/menu")


# --- bezwaar maken (objection, Art. 21) -------------------------------------------


def test_an_objection_goes_to_the_director_who_upholds_or_rejects_it() -> None:
    row = kind_of(RequestKind.OBJECTION)
    assert row.handled_by is StaffRole.DIRECTOR and row.needs_approval and row.in_menu
    waiting = _request(RequestKind.OBJECTION, RequestStatus.WAITING_APPROVAL)
    assert {Action.APPROVE, Action.REJECT} <= allowed(DIRECTOR, waiting, NOW)
    assert not {Action.APPROVE, Action.REJECT, Action.RESOLVE} & allowed(TEACHER, waiting, NOW)
    assert Action.WITHDRAW in allowed(ASKER, waiting, NOW)


def test_an_objection_names_a_processing_of_the_list() -> None:
    build = KINDS[RequestKind.OBJECTION].build
    pupil = None  # the objection's columns do not depend on the child's values
    for chosen, what in (("vendor.basispoort", "vendor"), ("photos", "photos")):
        draft = Draft("objection", 1, {"processing": chosen}, text="x")
        assert build(draft, pupil, NOW.date())["what"] == what  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        build(Draft("objection", 1, {"processing": "everything"}), pupil, NOW.date())  # type: ignore[arg-type]


async def test_an_objection_against_a_learning_product_is_upheld(world: World) -> None:
    bram = await world.linked("Meester Bram")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Bezwaar maken")
    await sanne.press("Emma de Vries")
    assert "Tegen welk gebruik van de gegevens van uw kind" in sanne.last_text
    await sanne.press("Basispoort")
    assert "Waarom maakt u bezwaar?" in sanne.last_text
    await sanne.send("Emma oefent liever op papier; wij willen geen account voor haar.")
    assert "Bezwaar tegen: Basispoort" in sanne.last_text
    await sanne.press("Versturen")
    assert "De directeur beslist over uw bezwaar." in sanne.last_text
    reference = _reference(sanne.last_text, "kenmerk is ")

    notice = await bram.wait_for(f"Nieuw verzoek {reference}")
    await bram.press("Openen", message_id=notice.message_id)
    assert "Bezwaar tegen: Basispoort" in bram.last_text
    assert "Emma oefent liever op papier" in bram.last_text
    await bram.press("Bezwaar toewijzen")
    assert f"daarmee wijst u het bezwaar {reference} toe" in bram.last_text
    await bram.send("Akkoord: Emma krijgt geen Basispoort-account meer.")
    assert "Afgehandeld" in bram.last_text

    decided = await sanne.wait_for(f"Bezwaar voor Emma ({reference}) is afgehandeld")
    await sanne.press("Bekijken", message_id=decided.message_id)
    assert "Emma krijgt geen Basispoort-account meer." in sanne.last_text
    # Upheld, it holds: not merely "afgehandeld".
    assert "Status: toegewezen, geldt nu" in sanne.last_text
    assert_telegram_accepted_everything(world)


async def test_an_objection_in_english_is_rejected_with_a_reason(world: World) -> None:
    bram = await world.linked("Meester Bram")
    piet = await world.linked("Piet Bakker")
    await _in_english(world, "Piet Bakker")
    await piet.press("Object to a use of data")
    assert "Which use of your child's data do you object to?" in piet.last_text
    await piet.press("Publication of photos and videos")
    await piet.send("Noor is in a safe-house situation; no photos anywhere, please.")
    assert "Objection to: publication of photos and videos" in piet.last_text
    await piet.press("Send")
    assert "The director decides on your objection." in piet.last_text
    reference = _reference(piet.last_text, "reference is ")

    notice = await bram.wait_for(f"Nieuw verzoek {reference}")
    await bram.press("Openen", message_id=notice.message_id)
    assert "Bezwaar tegen: publicatie van foto's en video's" in bram.last_text
    await bram.press("Afwijzen")
    assert f"Waarom wijst u het bezwaar {reference} af?" in bram.last_text
    await bram.send("De school publiceert alleen met toestemming; die is er niet.")

    decided = await piet.wait_for(f"Objection for Noor ({reference}) has been rejected")
    await piet.press("View", message_id=decided.message_id)
    assert "De school publiceert alleen met toestemming" in piet.last_text
    assert "Status: rejected" in piet.last_text
    assert_telegram_accepted_everything(world)


# --- verwerking beperken (restriction, Art. 18) -----------------------------------


def test_a_restriction_is_in_effect_from_approval_until_the_director_lifts_it() -> None:
    row = kind_of(RequestKind.RESTRICTION)
    assert row.handled_by is StaffRole.DIRECTOR and row.needs_approval and row.lasting
    in_effect = _request(RequestKind.RESTRICTION, RequestStatus.RESOLVED, decided_at=NOW)
    assert Action.LIFT in allowed(DIRECTOR, in_effect, NOW)
    assert Action.LIFT not in allowed(TEACHER, in_effect, NOW)
    lifted = _request(RequestKind.RESTRICTION, RequestStatus.RESOLVED, lifted_at=NOW)
    assert Action.LIFT not in allowed(DIRECTOR, lifted, NOW)
    rejected = _request(RequestKind.RESTRICTION, RequestStatus.REJECTED, decided_at=NOW)
    assert Action.LIFT not in allowed(DIRECTOR, rejected, NOW)
    # Nothing else lasts: a resolved correction or objection has nothing to lift.
    for kind in (RequestKind.CORRECTION, RequestKind.OBJECTION):
        assert Action.LIFT not in allowed(DIRECTOR, _request(kind, RequestStatus.RESOLVED), NOW)


def test_a_restriction_names_one_of_the_childs_fields() -> None:
    build = KINDS[RequestKind.RESTRICTION].build
    draft = Draft("restriction", 1, {"field": "geboortedatum"}, text="x")
    assert build(draft, None, NOW.date()) == {"field": "geboortedatum"}  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        build(Draft("restriction", 1, {"field": "bijzonderheden"}), None, NOW.date())  # type: ignore[arg-type]


async def test_a_restricted_birth_date_is_marked_until_the_director_lifts_it(
    world: World,
) -> None:
    bram = await world.linked("Meester Bram")
    sanne = await world.linked("Sanne de Vries")
    await sanne.press("Verwerking beperken")
    await sanne.press("Emma de Vries")
    assert "Welk gegeven mag de school voorlopig niet gebruiken" in sanne.last_text
    await sanne.press("Geboortedatum")
    assert "Waarom moet het gebruik van dit gegeven beperkt worden?" in sanne.last_text
    await sanne.send("De datum klopt niet; mijn correctieverzoek loopt nog.")
    assert "Beperken: geboortedatum" in sanne.last_text
    await sanne.press("Versturen")
    reference = _reference(sanne.last_text, "kenmerk is ")

    notice = await bram.wait_for(f"Nieuw verzoek {reference}")
    await bram.press("Openen", message_id=notice.message_id)
    assert "Beperken: geboortedatum" in bram.last_text and "🔒" not in bram.last_text
    await bram.press("Beperking instellen")
    await bram.send("De beperking geldt tot de correctie is beslist.")
    assert "🔒 Beperkt" in bram.last_text and "geboortedatum" in bram.last_text

    # Named by kind, field and child, so two requests about one child read apart.
    decided = await sanne.wait_for(
        f"Beperking van geboortedatum voor Emma ({reference}) is afgehandeld"
    )
    await sanne.press("Bekijken", message_id=decided.message_id)
    assert "De beperking geldt tot de correctie is beslist." in sanne.last_text
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    birth = next(line for line in sanne.last_text.splitlines() if "Geboortedatum" in line)
    assert birth.endswith("🔒 beperkt")
    assert "🔒" not in next(line for line in sanne.last_text.splitlines() if "Geslacht" in line)

    # Long after its card has left the chat, the restriction is found from the menu.
    world.clock.advance(days=2)
    await bram.send("/menu")
    await bram.press("Beperkingen en bezwaren die gelden")
    assert f"{reference} · Beperking van geboortedatum · Emma de Vries" in bram.last_text
    await bram.press(f"{reference} · Emma de Vries")
    await bram.press("Beperking opheffen")
    assert "De beperking van geboortedatum opheffen?" in bram.last_text
    assert "Er is nog niets veranderd." in bram.last_text
    await bram.press("Ja, beperking opheffen")
    assert "Opgeheven" in bram.last_text and "🔒" not in bram.last_text
    await bram.send("/menu")
    await bram.press("Beperkingen en bezwaren die gelden")
    assert "Er gelden geen beperkingen of bezwaren." in bram.last_text
    await sanne.wait_for(f"De directeur heeft de beperking van uw verzoek {reference} opgeheven.")
    await sanne.send("/menu")
    await sanne.press("Mijn gegevens")
    await sanne.press("Emma de Vries")
    assert "Geboortedatum" in sanne.last_text and "🔒" not in sanne.last_text
    assert_telegram_accepted_everything(world)


async def test_a_restriction_in_english(world: World) -> None:
    bram = await world.linked("Meester Bram")
    piet = await world.linked("Piet Bakker")
    await _in_english(world, "Piet Bakker")
    await piet.press("Restrict the use of data")
    assert "Which data may the school not use for now" in piet.last_text
    await piet.press("Gender")
    await piet.send("Please do not use this until my correction is decided.")
    assert "Restrict: gender" in piet.last_text
    await piet.press("Send")
    reference = _reference(piet.last_text, "reference is ")

    notice = await bram.wait_for(f"Nieuw verzoek {reference}")
    await bram.press("Openen", message_id=notice.message_id)
    await bram.press("Beperking instellen")
    await bram.send("Akkoord.")
    await piet.wait_for(f"Restriction of gender for Noor ({reference}) has been resolved")
    await piet.send("/menu")
    await piet.press("Your data")
    gender = next(line for line in piet.last_text.splitlines() if line.startswith("Gender"))
    assert gender.endswith("🔒 restricted")

    await bram.press("Beperking opheffen")
    await bram.press("Ja, beperking opheffen")
    await piet.wait_for(f"The director has lifted the restriction of your request {reference}.")
    await piet.send("/menu")
    await piet.press("Your data")
    assert "Gender" in piet.last_text and "🔒" not in piet.last_text
    assert_telegram_accepted_everything(world)
