"""End-to-end rig: the emulator on a loopback port, the demo school in a SQLite file, and
the unchanged bot started by the product's own runner against TELEGRAM_API_URL, by long
polling or by webhook. Nothing of the bot is patched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings
from bot.demo import DEMO_TOKEN, demo_settings, seed_database
from bot.emulator.driver import ChatPerson
from bot.emulator.server import EmulatorServer, create_app
from bot.emulator.state import Emulator
from bot.emulator.webchat import WebPersona
from bot.runner import run_polling, run_webhook
from flows.clock import FixedClock

# Every end-to-end test runs on the same school day, whatever the calendar says: a
# Tuesday morning in March, inside the school year and within office hours.
E2E_START = datetime(2027, 3, 16, 9, 0, tzinfo=UTC)


@dataclass
class World:
    emu: Emulator
    personas: dict[str, WebPersona]
    mode: str
    settings: Settings
    clock: FixedClock = field(default_factory=lambda: FixedClock(E2E_START))
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    def person(self, name: str) -> ChatPerson:
        persona = self.personas[name]
        return ChatPerson(self.emu, persona.user_id, name.split()[0])

    def in_group(self, name: str, chat_id: int = -100200300) -> ChatPerson:
        """The person writing in a group chat (a class group) the bot is a member of."""
        persona = self.personas[name]
        return ChatPerson(self.emu, persona.user_id, name.split()[0], chat_id=chat_id)

    async def linked(self, name: str) -> ChatPerson:
        person = self.person(name)
        await person.send(f"/start {self.personas[name].code}", reply=True)
        return person

    async def start(self) -> None:
        """Starts the bot with the product's own runner, as `ouderloket run` does."""
        self._stop = asyncio.Event()
        if self.mode == "webhook":
            self.emu.webhook = None
            webhook = run_webhook(self.settings, stop=self._stop, clock=self.clock)
            self._task = asyncio.create_task(webhook)
            await _until(lambda: self.emu.webhook is not None)
        else:
            calls = len(self.emu.calls)
            polling = run_polling(self.settings, stop=self._stop, clock=self.clock)
            self._task = asyncio.create_task(polling)
            await _until(lambda: any(n == "getUpdates" for n, _ in self.emu.calls[calls:]))

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 30)
            self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(condition: object, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise TimeoutError("the bot did not start")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path, mode: str, *, secure_view: bool = False
) -> AsyncIterator[World]:
    """`secure_view`: SECURE_VIEW_URL set, served on a free loopback port of its own
    (long polling) or on the webhook's server, under /veilig."""
    emu = Emulator(DEMO_TOKEN, bot_username="ouderloket_demo_bot")
    async with EmulatorServer(create_app(emu)) as server:
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
        personas = await seed_database(database_url, E2E_START)
        settings = demo_settings(Settings(_env_file=None), server.url, database_url)  # type: ignore[call-arg]
        if mode == "webhook":
            port = free_port()
            settings = settings.model_copy(
                update={
                    "webhook_url": f"http://127.0.0.1:{port}",
                    "webhook_port": port,
                    "webhook_secret": SecretStr("e2e-secret"),
                }
            )
        if secure_view:
            port = settings.webhook_port if mode == "webhook" else free_port()
            settings = settings.model_copy(
                update={
                    "secure_view_url": f"http://127.0.0.1:{port}/veilig",
                    "secure_view_port": port,
                }
            )
        world = World(emu, {p.name: p for p in personas}, mode, settings)
        await world.start()
        try:
            yield world
        finally:
            await world.stop()


COMMAND = (sys.executable, "-m", "bot.cli", "run")


@contextlib.contextmanager
def demo_process(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """The README's first command (`ouderloket run` with no BOT_TOKEN) in its own process,
    on a free port; yields the page's address, the demo database and its output so far."""
    port = free_port()
    database = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "TELEGRAM_API_URL")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    log = tmp_path / "demo.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [*COMMAND, "--port", str(port), "--demo-database", str(database)],
            cwd=tmp_path,  # no .env with a token is picked up here
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/personas", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo did not come up:\n{log.read_text()}")
            time.sleep(0.2)
        yield url, database, log.read_text().splitlines()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
