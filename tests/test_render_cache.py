"""A kind's words that depend only on the language and the school's own codes are
rendered once and kept (bot.render.kind_text); what names a child never is."""

from __future__ import annotations

from aiogram.utils.i18n import I18n

from bot import secure_links
from bot.render import _kind_words, kind_text, kind_words


def test_kept_words_follow_the_language(i18n: I18n) -> None:
    with i18n.context():
        with i18n.use_locale("nl"):
            dutch = kind_words("correction", "menu")
            option = kind_words("deletion", "option", step_name="what", option="tussenvoegsel")
        with i18n.use_locale("en"):
            english = kind_words("correction", "menu")
        with i18n.use_locale("nl"):
            again = kind_words("correction", "menu")
    assert dutch == again == "Correctie vragen"
    assert english == "Ask for a correction"
    assert option == "Tussenvoegsel"


def test_words_that_name_a_child_are_rendered_each_time_and_not_kept(i18n: I18n) -> None:
    _kind_words.cache_clear()
    with i18n.context(), i18n.use_locale("nl"), secure_links.using(None):
        first = kind_text("restriction", "effect", about="geboortedatum", pupil="Emma Bakker")
        second = kind_text("restriction", "effect", about="geboortedatum", pupil="Daan Smit")
        kind_words("correction", "menu")
        kind_words("correction", "menu")
    assert "Emma Bakker" in first and "Daan Smit" in second
    # Only the button was kept (and found the second time); the names never were.
    info = _kind_words.cache_info()
    assert (info.currsize, info.hits) == (1, 1)
