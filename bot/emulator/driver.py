"""A person in a test: sends text, presses buttons by their label or forges callback data,
downloads documents, and reads what the bot shows; every action waits until the bot has
gone quiet instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.emulator.state import CallbackRecord, Emulator, StoredMessage


class ChatPerson:
    def __init__(
        self,
        emu: Emulator,
        user_id: int,
        first_name: str = "",
        language_code: str = "nl",
        *,
        chat_id: int | None = None,
    ) -> None:
        """`chat_id` a negative id: the person acts in that group chat instead of their
        private chat with the bot."""
        self.emu = emu
        self.user_id = user_id
        self.chat_id = user_id if chat_id is None else chat_id
        emu.person(user_id, first_name, language_code)
        if self.chat_id != user_id:
            emu.group(self.chat_id)

    # --- acting ---------------------------------------------------------------------

    async def send(
        self, text: str, *, wait: bool = True, within: float = 10.0, reply: bool = False
    ) -> None:
        """Sends a message; with `wait`, returns once the bot answered in this chat (or
        `within` seconds passed) and went quiet. Quiet alone is not enough: on a busy
        machine the bot may take an update and think longer than the quiet period. With
        `reply`, no answer within `within` seconds is a failure."""
        await self.emu.user_sends(self.user_id, text, chat_id=self.chat_id)
        if not wait:
            return
        sent = self.emu.version(self.chat_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.emu.version(self.chat_id) == sent:
            if loop.time() > deadline:
                if reply:
                    raise AssertionError(f"no answer to {text!r}")
                break
            await self.emu.wait_changed(0.1)
        await self.emu.wait_idle()

    async def press(self, label: str, *, message_id: int | None = None) -> CallbackRecord:
        """Taps the button whose label contains `label` on the newest bot message that has
        one (or on `message_id`)."""
        message, button = self._button(label, message_id)
        if "callback_data" not in button:
            opens = button.get("url") or button.get("web_app")
            raise AssertionError(f"button {button['text']!r} opens {opens!r}")
        return await self.press_data(button["callback_data"], message_id=message.message_id)

    def web_app(self, label: str, *, message_id: int | None = None) -> str:
        """The address a web_app button opens (the secure view), as Telegram would open
        it; the caller signs the init data."""
        _message, button = self._button(label, message_id)
        if not isinstance(button.get("web_app"), dict):
            raise AssertionError(f"button {button['text']!r} is no web_app button")
        return str(button["web_app"]["url"])

    async def press_data(self, data: str, *, message_id: int | None = None) -> CallbackRecord:
        """Sends callback data as a (possibly forged) client would."""
        target = message_id if message_id is not None else self.bot_messages()[-1].message_id
        record = await self.emu.user_presses(self.user_id, target, data, chat_id=self.chat_id)
        await self.emu.wait_idle()
        return record

    async def wait_for(self, needle: str, *, within: float = 10.0) -> StoredMessage:
        """The first bot message whose text contains `needle`, waiting for it to arrive
        (for messages the bot sends on its own, such as notifications)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for message in self.bot_messages():
                if needle in (message.text or message.caption or ""):
                    return message
            if loop.time() > deadline:
                raise AssertionError(f"no message with {needle!r}; last: {self.last_text!r}")
            await self.emu.wait_changed(0.1)

    # --- reading --------------------------------------------------------------------

    def bot_messages(self) -> list[StoredMessage]:
        return [m for m in self.emu.visible(self.chat_id) if m.from_bot]

    @property
    def last(self) -> StoredMessage:
        messages = self.bot_messages()
        if not messages:
            raise AssertionError("the bot has not shown anything")
        return messages[-1]

    @property
    def last_text(self) -> str:
        message = self.last
        return message.text or message.caption or ""

    def texts(self) -> list[str]:
        return [m.text or m.caption or "" for m in self.bot_messages()]

    def buttons(self, message_id: int | None = None) -> list[str]:
        message = self._message(message_id) if message_id is not None else self.last
        return [b["text"] for b in message.buttons()]

    def documents(self) -> list[StoredMessage]:
        return [m for m in self.bot_messages() if m.document is not None]

    def download(self, message: StoredMessage | None = None) -> tuple[str, bytes]:
        documents = self.documents()
        target = message or (documents[-1] if documents else None)
        if target is None or target.document is None:
            raise AssertionError("the bot has not sent a document")
        return target.document.file_name, target.document.content

    def answers(self) -> list[CallbackRecord]:
        return [c for c in self.emu.callbacks.values() if c.user_id == self.user_id]

    # --- internals --------------------------------------------------------------------

    def _message(self, message_id: int) -> StoredMessage:
        found = self.emu.find(self.chat_id, message_id)
        if found is None:
            raise AssertionError(f"message {message_id} is not in the chat")
        return found

    def _button(self, label: str, message_id: int | None) -> tuple[StoredMessage, dict[str, Any]]:
        candidates = [self._message(message_id)] if message_id is not None else self.bot_messages()
        for message in reversed(candidates):
            for button in message.buttons():
                if label in button["text"]:
                    return message, button
        shown = [b["text"] for m in candidates[-1:] for b in m.buttons()]
        raise AssertionError(f"no button {label!r}; the last message has {shown}")
