"""What the process keeps so that a reply under load does not rebuild it: aiogram's
response models, and the templates with the rest of the start kept out of the garbage
collector's full collections."""

from __future__ import annotations

import gc
import weakref

from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message

from bot import app, render, runner


def test_response_models_outlive_a_full_collection() -> None:
    # pydantic holds Response[Message] weakly: without bot.app's hold a full collection
    # drops it, and the next sent message's answer builds it again.
    # Asked for inside a function, as aiogram does: asked for at a module's top level
    # pydantic would also keep it in that module.
    model = weakref.ref(Response[Message])
    gc.collect()
    assert model() is not None
    assert app.RESPONSE_MODELS[SendMessage.__returning__] is model()


def test_settle_compiles_every_template_and_freezes_the_start() -> None:
    runner.settle()
    env = render.environment()
    assert env.cache is not None
    compiled = {key[1] for key in env.cache}
    assert set(env.list_templates(extensions=["j2"])) <= compiled
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == runner.YOUNG_OBJECTS
