"""The Bot API client: aiogram's aiohttp session, sending a call's parameters as JSON.

aiogram sends every call as an urlencoded form, and urllib percent-encodes it byte by
byte in Python: for a screen of text with its keyboard that was a tenth of the bot's
work per reply, more than the JSON the same parameters make. Telegram takes JSON for
every call but an upload; a call with a file (the parent's copy as a document) still
goes as aiogram sends it, as multipart."""

from __future__ import annotations

from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile
from aiohttp import ClientError, ClientTimeout

_JSON = {"Content-Type": "application/json"}


class JsonSession(AiohttpSession):
    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> str | None:
        """The call's parameters as a JSON object, prepared as aiogram prepares them for
        its form (the bot's defaults filled in; left out where aiogram leaves them out,
        when None or an empty text); None when the call uploads a file."""
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        # Without the Nones, which aiogram leaves out anyway: a keyboard's button has a
        # dozen fields, mostly None.
        for key, value in method.model_dump(warnings=False, exclude_none=True).items():
            prepared = self._plain(value, bot, files)
            if prepared is not None and prepared != "":
                params[key] = prepared
        return None if files else cast(str, self.json_dumps(params))

    def _plain(self, value: Any, bot: Bot, files: dict[str, InputFile]) -> Any:
        """aiogram's prepare_value for a JSON body, with the plain values a screen is made
        of (texts, numbers, the keyboard's dicts and lists) taken without its keyword
        calls. The rest (a default, a file, a date, an enum) is left to aiogram."""
        kind = type(value)
        if kind is str or kind is int or kind is bool or kind is float:
            return value
        if kind is dict:
            return {
                key: prepared
                for key, item in value.items()
                if (prepared := self._plain(item, bot, files)) is not None
            }
        if kind is list:
            return [
                prepared
                for item in value
                if (prepared := self._plain(item, bot, files)) is not None
            ]
        return self.prepare_value(value, bot=bot, files=files, _dumps_json=False)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109  (aiogram's signature)
    ) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=body,
                headers=_JSON,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as response:
                content = await response.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            raise TelegramNetworkError(
                method=method, message=f"{type(error).__name__}: {error}"
            ) from error
        answer = self.check_response(
            bot=bot, method=method, status_code=response.status, content=content
        )
        return cast(TelegramType, answer.result)
