"""The secure view (SECURE_VIEW_URL): the child's data is shown by the school's own server
in a Telegram Mini App, and no Bot API call carries it.

Run over the emulator with the product's own runner (tests/e2e.py): the pages are fetched
over HTTP with init data signed as Telegram signs it (bot/emulator/webapp.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from babel.dates import format_date
from sqlmodel import col, func, select

from bot.demo import DEMO_TOKEN, SECOND_TOKEN
from bot.emulator.webapp import sign_init_data
from bot.render import local
from bot.secure_view import INIT_HEADER, Backend, Refused, authenticate
from flows.actor import load_actor
from flows.audit import AuditAction
from flows.clock import FixedClock
from storage.db import create_engine, create_session_factory, transaction
from storage.models import AuditEvent, Pupil, SchoolGroup
from tests.e2e import E2E_START, World, running_bot
from tests.factories import create_correction

SANNE, ANOUK = "Sanne de Vries", "Juf Anouk"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_bot(tmp_path, "polling", secure_view=True) as world:
        yield world


def _api(url: str) -> str:
    """The JSON endpoint behind a web_app button's page, with the page's own query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}api/view?{parts.query}"


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def _open(
    world: World,
    url: str,
    user_id: int,
    *,
    token: str = DEMO_TOKEN,
    signed_at: datetime | None = None,
    init_data: str | None = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """What the page's script does: the screen's JSON with the init data in a header."""
    if init_data is None:
        init_data = sign_init_data(token, user_id, signed_at or world.clock.now())
    async with (
        aiohttp.ClientSession() as http,
        http.get(_api(url), headers={INIT_HEADER: init_data}) as response,
    ):
        body = await response.json(content_type=None)
        return response.status, dict(response.headers), body


async def _screen(world: World, url: str, user_id: int) -> dict[str, Any]:
    status, headers, body = await _open(world, url, user_id)
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    return body


def _link(body: dict[str, Any], view: str, base: str, **ids: int) -> str:
    """A link of the page (its data-view anchors), made absolute against the page."""
    wanted = {"view": view, **{k: str(v) for k, v in ids.items()}}
    for href in body["html"].split('href="')[1:]:
        query = href.split('"', 1)[0].replace("&amp;", "&")
        if dict(parse_qsl(query.lstrip("?"))) == wanted:
            return base.split("?", 1)[0] + query
    raise AssertionError(f"no link to {wanted} in {body['html']!r}")


async def _emma(world: World) -> tuple[Pupil, SchoolGroup]:
    engine = create_engine(world.settings.database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            emma = (await session.exec(select(Pupil).where(Pupil.voornaam == "Emma"))).one()
            group = await session.get(SchoolGroup, emma.group_id)
            assert group is not None
            return emma, group
    finally:
        await engine.dispose()


async def _audited(world: World, action: AuditAction) -> int:
    engine = create_engine(world.settings.database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            count = await session.exec(
                select(func.count()).where(col(AuditEvent.action) == action.value)
            )
            return int(count.one())
    finally:
        await engine.dispose()


async def _correction_from_sanne(world: World, pupil_id: int, value: str) -> None:
    """Sanne's correction as the form sends it, straight through the flow: the test is
    about the screens, not about typing."""
    engine = create_engine(world.settings.database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            actor = await load_actor(session, world.personas[SANNE].user_id, "nl")
            await create_correction(
                session, actor, pupil_id, "geboortedatum", value, None, world.clock.now()
            )
    finally:
        await engine.dispose()


def _secrets_of(emma: Pupil, group: SchoolGroup) -> list[str]:
    """Every value of the child a supplier receives or the record shows, as text in each
    form a screen writes it. Values under four characters (gender "V", jaargroep "5",
    group "5A") are left out: they occur in any text."""
    born = emma.geboortedatum
    values = [
        emma.voornaam,
        emma.achternaam,
        f"{emma.tussenvoegsel} {emma.achternaam}".strip(),
        emma.leerlingnummer,
        emma.leerlingkey,
        emma.basispoort_id,
        group.groepskey,
        born.isoformat(),
        born.strftime("%d-%m-%Y"),
        f"{born.day} maart {born.year}" if born.month == 3 else "",
        born.strftime("%d %B %Y"),
    ]
    values += [format_date(born, "long", locale="nl_NL"), format_date(born, "long", locale="en_GB")]
    return [v for v in values if v and len(v) >= 4]


async def test_with_the_secure_view_no_bot_api_call_carries_the_childs_data(
    world: World,
) -> None:
    anouk = await world.linked(ANOUK)
    sanne = await world.linked(SANNE)
    emma, group = await _emma(world)
    # The menu opens Mijn gegevens as a Mini App; the chat names no child.
    assert "Uw account is gekoppeld." in sanne.last_text
    assert "2 kinderen" in sanne.last_text
    mine = sanne.web_app("Mijn gegevens")
    assert _query(mine) == {"view": "inzage"}
    user = world.personas[SANNE].user_id

    # The page: first the choice of child, then the record with everything in it.
    choice = await _screen(world, mine, user)
    record_url = _link(choice, "inzage", mine, pupil=emma.id or 0)
    record = await _screen(world, record_url, user)
    html = record["html"]
    assert record["lang"] == "nl"
    assert "Emma de Vries" in html and emma.leerlingnummer in html
    assert local(datetime.combine(emma.geboortedatum, datetime.min.time())).year > 2000
    assert f"{emma.geboortedatum.day} " in html and str(emma.geboortedatum.year) in html
    assert emma.basispoort_id and emma.basispoort_id in html

    # What each supplier receives, with the child's own values.
    suppliers = await _screen(world, _link(record, "leveranciers", mine, pupil=emma.id or 0), user)
    assert "Basispoort" in suppliers["html"] and emma.basispoort_id in suppliers["html"]
    assert emma.leerlingkey and emma.leerlingkey in suppliers["html"]

    # The copy: both files from the page, none sent as a Telegram document.
    copies_before = await _audited(world, AuditAction.COPY_DOWNLOADED)
    copy = await _screen(world, _link(record, "kopie", mine, pupil=emma.id or 0), user)
    names = sorted(f["name"] for f in copy["files"])
    assert [n.rsplit(".", 1)[1] for n in names] == ["html", "json"]
    data = json.loads(next(f["content"] for f in copy["files"] if f["name"].endswith(".json")))
    assert data["pupil"]["leerlingnummer"] == emma.leerlingnummer
    assert data["pupil"]["birth_date"] == emma.geboortedatum.isoformat()
    assert await _audited(world, AuditAction.COPY_DOWNLOADED) == copies_before + 1
    assert not sanne.documents()

    # The teacher: the new request's card through the page, the chat keeps the actions.
    await _correction_from_sanne(world, emma.id or 0, "2016-02-12")
    notice = await anouk.wait_for("Nieuw verzoek OL-")
    await anouk.press("Openen", message_id=notice.message_id)
    assert "de beveiligde weergave" in anouk.last_text
    assert "Oppakken" in anouk.buttons()
    card_url = anouk.web_app("Verzoek bekijken")
    views_before = await _audited(world, AuditAction.REQUEST_VIEWED)
    card = await _screen(world, card_url, world.personas[ANOUK].user_id)
    assert "Emma de Vries" in card["html"] and "geboortedatum" in card["html"].lower()
    assert await _audited(world, AuditAction.REQUEST_VIEWED) == views_before + 1

    # The log and the consent overview open in the same view.
    await anouk.press("Logboek van de leerling")
    logs_before = await _audited(world, AuditAction.LOG_VIEWED)
    log = await _screen(world, anouk.web_app("Logboek bekijken"), world.personas[ANOUK].user_id)
    assert "gegevens bekeken" in log["html"] and "kopie gedownload" in log["html"]
    assert await _audited(world, AuditAction.LOG_VIEWED) == logs_before + 1
    # The parent's "Wie heeft de gegevens bekeken?" has the teacher's views on the page.
    seen = await _screen(world, _link(record, "bekeken", mine, pupil=emma.id or 0), user)
    assert "de leerkracht · gegevens bekeken" in seen["html"]
    assert "de leerkracht · logboek bekeken" in seen["html"] and "Anouk" not in seen["html"]
    await anouk.send("/toestemmingen", reply=True)
    consent = await _screen(
        world, anouk.web_app("Wie mag niet op beeld?"), world.personas[ANOUK].user_id
    )
    assert "Nieuwsbrief" in consent["html"] or "nieuwsbrief" in consent["html"]

    # Acting on the card stays in the chat, without the card's data: the queue, picking
    # it up, and the correction's confirmation (old and new value are on the page).
    await anouk.send("/wachtrij", reply=True)
    assert "OL-2027-0001" in anouk.last_text and "(5A)" in anouk.last_text
    await anouk.press("OL-2027-0001")
    await anouk.press("Oppakken")
    assert "U heeft dit verzoek opgepakt." in anouk.last_text
    await anouk.press("Afhandelen")
    await anouk.send("Aangepast, dank u wel.", reply=True)
    assert "Weet u het zeker?" in anouk.last_text
    await anouk.press("Ja, aanpassen en afhandelen")
    assert "Afgehandeld." in anouk.last_text
    await sanne.wait_for("OL-2027-0001")

    # Every Bot API call of the whole run, in both directions' parameters.
    secrets = _secrets_of(emma, group)
    assert len(secrets) >= 8
    for method, params in world.emu.calls:
        sent = json.dumps(params, ensure_ascii=False, default=str)
        for secret in secrets:
            assert secret not in sent, f"{method} carried {secret!r}"
    assert any(m == "sendMessage" for m, _ in world.emu.calls)
    assert not any(m == "sendDocument" for m, _ in world.emu.calls)


async def test_the_page_itself_carries_no_data_and_loads_nothing_from_another_host(
    world: World,
) -> None:
    sanne = await world.linked(SANNE)
    mine = sanne.web_app("Mijn gegevens")
    async with aiohttp.ClientSession() as http, http.get(mine) as response:
        page = await response.text()
        headers = response.headers
    assert response.status == 200
    assert headers["Cache-Control"] == "no-store"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "Set-Cookie" not in headers
    assert "Emma" not in page and "<script>" not in page
    assert "https://" not in page and "//telegram.org" not in page
    static = mine.split("?", 1)[0] + "static/view.js"
    async with aiohttp.ClientSession() as http, http.get(static) as response:
        assert response.status == 200
        assert "tgWebAppData" in await response.text()


@pytest.mark.parametrize("how", ["forged", "expired", "other bot", "missing"])
async def test_init_data_that_is_not_ours_and_fresh_gets_401_and_nothing_else(
    world: World, how: str
) -> None:
    sanne = await world.linked(SANNE)
    mine = sanne.web_app("Mijn gegevens")
    user = world.personas[SANNE].user_id
    now = world.clock.now()
    if how == "forged":
        good = sign_init_data(DEMO_TOKEN, user, now)
        # Another user's id under the first user's hash.
        fields = dict(parse_qsl(good))
        fields["user"] = fields["user"].replace(str(user), str(world.personas[ANOUK].user_id))
        init = "&".join(f"{k}={v}" for k, v in fields.items())
        status, headers, body = await _open(world, mine, user, init_data=init)
    elif how == "expired":
        # Signed an hour and a minute ago by the product's clock.
        status, headers, body = await _open(
            world, mine, user, signed_at=now - timedelta(hours=1, minutes=1)
        )
    elif how == "other bot":
        status, headers, body = await _open(world, mine, user, token=SECOND_TOKEN)
    else:
        status, headers, body = await _open(world, mine, user, init_data="")
    assert status == 401
    assert body == {"error": "unauthorized"}
    assert headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers


async def test_fresh_init_data_a_minute_under_the_hour_is_still_taken(world: World) -> None:
    sanne = await world.linked(SANNE)
    mine = sanne.web_app("Mijn gegevens")
    user = world.personas[SANNE].user_id
    signed = world.clock.now()
    world.clock.advance(minutes=59)
    status, _headers, _body = await _open(world, mine, user, signed_at=signed)
    assert status == 200
    world.clock.advance(minutes=2)
    status, _headers, body = await _open(world, mine, user, signed_at=signed)
    assert status == 401 and body == {"error": "unauthorized"}


async def test_a_parent_cannot_open_another_childs_record_or_a_staff_screen(
    world: World,
) -> None:
    piet = await world.linked("Piet Bakker")
    emma, _group = await _emma(world)
    base = piet.web_app("Mijn gegevens").split("?", 1)[0]
    user = world.personas["Piet Bakker"].user_id
    for query in (f"?view=inzage&pupil={emma.id}", f"?view=logboek&pupil={emma.id}"):
        status, _headers, body = await _open(world, base + query, user)
        assert status == 404
        assert "Emma" not in json.dumps(body)


async def test_an_unlinked_account_is_told_to_link_first(world: World) -> None:
    sanne = await world.linked(SANNE)
    mine = sanne.web_app("Mijn gegevens")
    status, _headers, body = await _open(world, mine, 999_999)
    assert status == 403 and "niet gekoppeld" in body["error"]


async def test_the_page_is_in_the_parents_own_language(world: World) -> None:
    piet = await world.linked("Piet Bakker")
    await piet.send("/taal", reply=True)
    await piet.press("English")
    await piet.send("/menu", reply=True)
    mine = piet.web_app("Your data")
    body = await _screen(world, mine, world.personas["Piet Bakker"].user_id)
    assert body["lang"] == "en" and "Date of birth" in body["html"]


def _backend(token: str, clock: FixedClock) -> Backend:
    from bot.config import Settings
    from bot.i18n import create_i18n

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return Backend(token, settings, None, create_i18n(), clock)  # type: ignore[arg-type]


def test_authenticate_names_the_bot_and_user_and_counts_age_on_the_injected_clock() -> None:
    clock = FixedClock(datetime(2027, 3, 16, 9, 0, tzinfo=UTC))
    flint, esch = _backend(DEMO_TOKEN, clock), _backend(SECOND_TOKEN, clock)
    signed = sign_init_data(SECOND_TOKEN, 42, clock.now())
    backend, user = authenticate([flint, esch], signed)
    assert backend is esch and user == 42
    with pytest.raises(Refused):
        authenticate([flint], signed)
    clock.advance(hours=1, seconds=1)
    with pytest.raises(Refused):
        authenticate([flint, esch], signed)
    early = sign_init_data(DEMO_TOKEN, 42, clock.now() + timedelta(minutes=10))
    with pytest.raises(Refused):
        authenticate([flint], early)
    assert E2E_START.tzinfo is UTC


async def test_on_the_webhook_server_the_view_is_served_beside_the_webhook(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, "webhook", secure_view=True) as world:
        sanne = await world.linked(SANNE)
        mine = sanne.web_app("Mijn gegevens")
        assert urlsplit(mine).port == world.settings.webhook_port
        body = await _screen(world, mine, world.personas[SANNE].user_id)
        assert "Emma de Vries" in body["html"] and "Daan de Vries" in body["html"]
        status, _headers, _body = await _open(world, mine, 1, token=SECOND_TOKEN)
        assert status == 401


async def test_without_the_setting_the_menu_opens_the_data_in_the_chat(tmp_path: Path) -> None:
    async with running_bot(tmp_path, "polling") as world:
        sanne = await world.linked(SANNE)
        assert "Emma de Vries" in sanne.last_text
        with pytest.raises(AssertionError, match="no web_app button"):
            sanne.web_app("Mijn gegevens")


@pytest.mark.parametrize(
    ("given", "taken"),
    [
        ("https://school.example.nl/veilig/", "https://school.example.nl/veilig"),
        ("http://127.0.0.1:8082/veilig", "http://127.0.0.1:8082/veilig"),
        ("", None),
    ],
)
def test_secure_view_url_is_https_or_loopback(given: str, taken: str | None) -> None:
    from bot.config import Settings

    settings = Settings(_env_file=None, secure_view_url=given)  # type: ignore[call-arg]
    assert settings.secure_view_url == taken


@pytest.mark.parametrize(
    "given", ["http://school.example.nl/veilig", "ftp://x", "https://x/?a=1", "https://x/#y"]
)
def test_secure_view_url_refuses_what_telegram_would_not_open(given: str) -> None:
    from pydantic import ValidationError

    from bot.config import Settings

    with pytest.raises(ValidationError):
        Settings(_env_file=None, secure_view_url=given)  # type: ignore[call-arg]


async def test_a_correction_form_shows_no_stored_value_in_the_chat(world: World) -> None:
    """The form names the fields; what the school holds now is on the page. The parent's
    typed value goes through Telegram, as everything typed in a chat does."""
    sanne = await world.linked(SANNE)
    emma, _group = await _emma(world)
    stored = format_date(emma.geboortedatum, "long", locale="nl_NL")
    await sanne.press("Correctie vragen")
    await sanne.press("Emma de Vries")
    assert "Wat de school nu vastlegt, ziet u onder Mijn gegevens." in sanne.last_text
    await sanne.press("Geboortedatum")
    assert "Nu vastgelegd" not in sanne.last_text
    await sanne.send("12-02-2016", reply=True)
    await sanne.press("Overslaan")
    assert "geboortedatum: → 12 februari 2016" in sanne.last_text
    await sanne.press("Versturen")
    await sanne.press("Mijn verzoeken")
    await sanne.press("Correctie geboortedatum")
    assert "12 februari 2016" in sanne.last_text
    for method, params in world.emu.calls:
        sent = json.dumps(params, ensure_ascii=False, default=str)
        assert stored not in sent and emma.geboortedatum.isoformat() not in sent, method


def test_a_notification_names_no_child_with_the_secure_view_on() -> None:
    from bot.i18n import create_i18n
    from bot.render import render
    from bot.secure_links import nameless, using

    params = {
        "count": 1,
        "items": [
            {
                "reference": "OL-2027-0001",
                "kind": "correction",
                "pupil_full": "Emma de Vries",
                "leerlingnummer": "5001",
                "due": "2027-04-16",
            }
        ],
    }
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale("nl"), using("https://school.example.nl/veilig"):
        text = render("notify/overdue_summary.j2", **nameless(params, parent=False))
        told = render(
            "notify/request_new.j2",
            **nameless(
                {
                    "reference": "OL-2027-0001",
                    "kind": "question",
                    "pupil_full": "Emma de Vries",
                    "group": "5A",
                },
                parent=False,
            ),
        )
    assert "Emma" not in text and "5001" not in text and "een leerling" in text
    assert "Emma" not in told and "over een leerling (groep 5A)" in told
