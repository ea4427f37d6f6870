"""Linking through the real dispatcher, with every Bot API call recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage
from sqlalchemy.exc import OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.clock import FixedClock
from storage.db import SessionFactory
from storage.models import StaffRole
from tests import factories
from tests.recording import ChatDriver


async def _family(factory: SessionFactory, clock: FixedClock) -> str:
    async with factory() as session:
        emma = await factories.pupil(session, "Emma", "Vries", "de", "5A")
        daan = await factories.pupil(session, "Daan", "Vries", "de", "7B")
        sanne = await factories.guardian(session, "Sanne de Vries", emma, daan)
        other = await factories.pupil(session, "Noor", "Bakker", "", "5A")
        await factories.guardian(session, "Piet Bakker", other)
        code = await factories.guardian_code(session, sanne, clock.now())
        await session.commit()
    return code


async def test_start_without_code_asks_for_the_code_from_the_letter(
    chat: Callable[..., ChatDriver],
) -> None:
    parent = chat(1001)
    await parent.send("/start")
    assert "Welkom bij Ouderloket van OBS de Flint" in parent.last_text
    assert "code uit de brief" in parent.last_text


async def test_deep_link_links_at_once_and_names_only_own_children(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    parent = chat(1001)
    await parent.send(f"/start {code}")
    text = parent.last_text
    assert "Uw account is gekoppeld" in text
    assert "ouder/verzorger van:\n• Emma de Vries, groep 5A\n• Daan de Vries, groep 7B\n" in text
    assert "Noor" not in text and "Bakker" not in text
    assert "Ontkoppelen" in parent.buttons()


async def test_typed_code_with_dashes_and_lower_case_links(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    parent = chat(1002)
    typed = "-".join(code[i : i + 4] for i in range(0, 12, 4)).lower()
    await parent.send(typed)
    assert "Emma de Vries" in parent.last_text


async def test_staff_code_shows_role_and_groups(
    chat: Callable[..., ChatDriver], session: AsyncSession, clock: FixedClock
) -> None:
    code = await factories.staff_code(
        session, "Juf Anouk", StaffRole.TEACHER, ["5A", "5B"], clock.now()
    )
    director = await factories.staff_code(
        session, "Meester Bram", StaffRole.DIRECTOR, [], clock.now()
    )
    await session.commit()
    teacher = chat(2001)
    await teacher.send(code)
    assert "leerkracht (Juf Anouk) van groep 5A, 5B" in teacher.last_text
    head = chat(2002)
    await head.send(f"/start {director}")
    assert "directeur (Meester Bram)" in head.last_text


async def test_sixth_attempt_is_refused_even_when_right_and_works_later(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    parent = chat(1003)
    for _ in range(4):
        await parent.send("AAAA-BBBB-CCCC")
        assert "Deze code kennen wij niet" in parent.last_text
    await parent.send("AAAA-BBBB-CCCC")
    assert "te vaak een verkeerde code" in parent.last_text
    assert "10:15 uur" in parent.last_text  # 09:00 UTC is 10:00 in Amsterdam in November

    await parent.send(code)
    assert "te vaak een verkeerde code" in parent.last_text
    assert "gekoppeld" not in parent.last_text

    clock.advance(minutes=15)
    await parent.send(code)
    assert "Uw account is gekoppeld" in parent.last_text


async def test_used_code_is_explained_to_someone_else(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    await chat(1004).send(f"/start {code}")
    stranger = chat(1005)
    await stranger.send(f"/start {code}")
    assert "al gebruikt" in stranger.last_text
    assert "Emma" not in stranger.last_text


async def test_expired_code_is_explained(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    clock.advance(days=61)
    parent = chat(1006)
    await parent.send(code)
    assert "niet meer geldig" in parent.last_text


async def test_text_that_is_no_code_gets_a_hint_and_does_not_count(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    parent = chat(1007)
    for _ in range(6):
        await parent.send("hallo, ik wil graag inloggen")
    assert "Dit lijkt geen code" in parent.last_text
    await parent.send(code)
    assert "gekoppeld" in parent.last_text


async def test_unlinking_removes_only_the_link(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    parent = chat(1008)
    await parent.send(f"/start {code}")
    await parent.press("Ontkoppelen")
    assert "Wilt u dit Telegram-account ontkoppelen?" in parent.last_text
    await parent.press("Ja, ontkoppelen")
    assert "ontkoppeld" in parent.last_text
    await parent.send("/menu")
    assert "Stuur eerst de code" in parent.last_text
    async with factory() as session:
        from sqlmodel import func, select

        from storage.models import Guardian, Pupil

        assert (await session.exec(select(func.count()).select_from(Pupil))).one() == 3
        assert (await session.exec(select(func.count()).select_from(Guardian))).one() == 2


async def test_language_switch_to_english_and_back(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    parent = chat(1009)
    await parent.send(f"/start {code}")
    await parent.send("/taal")
    await parent.press("English")
    assert parent.last_text == "The language is now English."
    await parent.send("/menu")
    assert "Emma de Vries, group 5A" in parent.last_text
    await parent.press("Language / Taal")
    await parent.press("Nederlands")
    assert parent.last_text == "De taal is nu Nederlands."


async def test_forged_button_is_answered_and_reveals_nothing(
    chat: Callable[..., ChatDriver],
    bot_and_session,
    factory: SessionFactory,
    clock: FixedClock,  # type: ignore[no-untyped-def]
) -> None:
    await _family(factory, clock)
    parent = chat(1010)
    await parent.send("/start")
    before = len(parent.session.calls)
    await parent.press_data(1, "m:does-not-exist")
    await parent.press_data(1, "x" * 64)
    new_calls = parent.session.calls[before:]
    answers = [c.method for c in new_calls if isinstance(c.method, AnswerCallbackQuery)]
    assert len(answers) == 2
    assert all("werkt niet meer" in (a.text or "") for a in answers)
    assert not any(isinstance(c.method, SendMessage) for c in new_calls)


async def test_huge_or_html_messages_get_a_plain_answer_within_telegram_limits(
    chat: Callable[..., ChatDriver], factory: SessionFactory, clock: FixedClock
) -> None:
    code = await _family(factory, clock)
    stranger = chat(1011)
    await stranger.send("<b>&" * 2500)  # 10,000 characters of markup
    assert "Dit lijkt geen code" in stranger.last_text
    parent = chat(1012)
    await parent.send(f"/start {code}")
    await parent.send("x" * 10_000)
    assert "Typen werkt hier alleen als de bot om een antwoord vraagt" in parent.last_text
    await parent.send("<script>alert(1)</script>")
    assert "<script>" not in parent.last_text
    # Every message went through tests.telegram_limits.check_message on the way out.


async def test_help_lists_the_commands_on_their_own_lines(chat: Callable[..., ChatDriver]) -> None:
    user = chat(1013)
    await user.send("/help")
    assert "met de school.\n\nOpdrachten:\n/menu – het menu\n/taal – " in user.last_text
    assert "Stuur de code uit de brief" in user.last_text


async def test_a_flood_from_one_account_is_cut_off_without_touching_others(
    chat: Callable[..., ChatDriver],
) -> None:
    flooder = chat(1014)
    for _ in range(25):
        await flooder.send("/help")
    answered = [m.text for m in flooder.session.of(SendMessage) if m.chat_id == 1014]
    # Twenty answers, then once (not five times) the request to wait.
    assert len(answered) == 21
    assert answered[-1] == "Even geduld, u stuurt veel berichten tegelijk."
    other = chat(1015)
    await other.send("/help")
    assert "Hulp bij Ouderloket" in other.last_text


async def test_linked_is_said_only_once_the_link_is_stored(
    chat: Callable[..., ChatDriver],
    factory: SessionFactory,
    clock: FixedClock,
    failing_commits: Callable[[bool], None],
) -> None:
    """The answer to a code goes once the update is committed: a commit that fails says
    nothing of a link (there is none), and the same code then links as it should."""
    from storage.models import ChatLink

    code = await _family(factory, clock)
    parent = chat(1003)

    failing_commits(True)
    with pytest.raises(OperationalError):
        await parent.send(f"/start {code}")
    assert not any("gekoppeld" in shown.text for shown in parent.my_messages())
    async with factory() as session:
        assert await session.get(ChatLink, 1003) is None

    failing_commits(False)
    await parent.send(f"/start {code}")
    assert "Uw account is gekoppeld" in parent.last_text
