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


def test_a_kept_keyboard_follows_the_language_and_the_child(i18n: I18n) -> None:
    """Mijn gegevens' keyboard is kept per language and child (bot.keyboards.inzage): a
    Dutch and an English parent of the same child, and two children, each get their own."""
    from bot import keyboards

    def shown(pupil_id: int, locale: str) -> list[tuple[str, str | None]]:
        with i18n.context(), i18n.use_locale(locale), secure_links.using(None):
            markup = keyboards.inzage(pupil_id, special_category=False)
        return [(b.text, b.callback_data) for row in markup.inline_keyboard for b in row]

    dutch, english, again = shown(7, "nl"), shown(7, "en"), shown(7, "nl")
    assert dutch == again
    assert dutch[0][0] == "Kopie downloaden" and english[0][0] == "Download a copy"
    assert [data for _, data in dutch] == [data for _, data in english]
    other = shown(8, "nl")
    assert [text for text, _ in other] == [text for text, _ in dutch]
    assert other[0][1] != dutch[0][1] and ":8:" in (other[0][1] or "")


def test_a_function_made_per_screen_is_not_kept(i18n: I18n) -> None:
    """Jinja's calls of plain functions are remembered per function (bot.render._Context);
    one made anew for each screen is not, or the process would grow with every screen."""
    from bot.render import _PLAIN, environment

    template = environment().from_string("{{ shown(1) }}")
    with i18n.context(), i18n.use_locale("nl"):
        template.render(shown=str)
        before = len(_PLAIN)
        for n in range(50):

            def shown(value: int, n: int = n) -> str:
                return str(value + n)

            assert template.render(shown=shown) == str(1 + n)
    assert len(_PLAIN) == before
