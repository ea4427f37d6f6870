"""What each step of a parent's request form offers, decided here so bot/ only shows it:
the child (reached only through the guardian's own children), the next step of the
kind's form with its options, the stored values a correction starts from, and whether
the free text is required. The steps are the kind's row in KINDS: a new kind declares
its steps there and needs nothing here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from flows.actor import Actor
from flows.errors import InvalidInput
from flows.linking import full_name
from flows.requests.drafts import (
    CORRECTABLE_FIELDS,
    Draft,
    Option,
    clean_text,
    stored_value,
    today,
)
from flows.requests.rules import Choose, Kind, Write, kind_of
from flows.scope import own_child
from storage.models import RequestKind


@dataclass(frozen=True)
class Asked:
    """What the parent is asked now: the next of the kind's steps (rules.Step) with
    the child's values it needs; `name` None when the draft is complete (the
    confirmation comes next)."""

    pupil_id: int
    child: str  # the child's full name
    name: str | None
    options: tuple[Option, ...]  # a choice step's buttons; () for a typed step
    text_required: bool
    # The correctable fields' stored values ("" when empty), for "now: …" lines.
    current: Mapping[str, str] = field(default_factory=dict)
    typed_is_text: bool = False
    shows_stored: bool = False
    instead: RequestKind | None = None

    @property
    def is_choice(self) -> bool:
        return bool(self.options)


def _answered(spec: Kind, draft: Draft, name: str) -> bool:
    step = next(s for s in spec.steps if s.name == name)
    if isinstance(step, Choose):
        return name in draft.choices
    return (draft.text if name == "text" else draft.value) is not None


async def offer(session: AsyncSession, actor: Actor, draft: Draft) -> Asked:
    """The first step of the kind's form the draft has not answered; NotFound for a
    child that is not the actor's."""
    spec = kind_of(draft.kind)
    pupil = await own_child(session, actor, draft.pupil_id)
    child = full_name(pupil)
    current = {f: stored_value(pupil, f) for f in CORRECTABLE_FIELDS}
    required = spec.text_required(draft)
    for step in spec.steps:
        if _answered(spec, draft, step.name):
            continue
        if isinstance(step, Choose):
            options = await step.options(session, pupil, draft)
            return Asked(
                draft.pupil_id,
                child,
                step.name,
                options,
                required,
                current,
                step.typed_is_text,
                step.shows_stored,
                step.instead,
            )
        return Asked(
            draft.pupil_id, child, step.name, (), required, current, shows_stored=step.shows_stored
        )
    return Asked(draft.pupil_id, child, None, (), required, current)


async def choose(session: AsyncSession, actor: Actor, draft: Draft, name: str, index: int) -> Draft:
    """The draft with the choice step `name` answered by its `index`-th option;
    InvalidInput("stale") when the form is not at that step or the option is gone."""
    step = await offer(session, actor, draft)
    if step.name != name or not step.options or not 0 <= index < len(step.options):
        raise InvalidInput("stale")
    option = step.options[index]
    names = {**draft.names, step.name: option.name} if option.name else draft.names
    return replace(draft, choices={**draft.choices, step.name: option.value}, names=names)


async def write(
    session: AsyncSession,
    actor: Actor,
    draft: Draft,
    typed: str,
    now: datetime,
    message_id: int | None = None,
) -> Draft:
    """The draft with the current typed step answered. At a choice step that takes text
    (the deletion's reason: the parent saw "zelf omschrijven") the text is kept;
    at another choice step InvalidInput("choose"). `message_id`: the parent's Telegram
    message it was typed in, remembered with the part it fills."""
    answered, part = await _write(session, actor, draft, typed, now)
    if message_id is None:
        return answered
    kept = tuple(s for s in draft.sources if s[0] != part)  # retyped: the newest counts
    return replace(answered, sources=(*kept, (part, message_id, now.isoformat())))


async def _write(
    session: AsyncSession, actor: Actor, draft: Draft, typed: str, now: datetime
) -> tuple[Draft, str]:
    """The answered draft, and which part the typed words became: "text" or "value"."""
    step = await offer(session, actor, draft)
    spec = kind_of(draft.kind)
    if step.name is None:
        raise InvalidInput("choose")
    if step.options:
        if not step.typed_is_text:
            raise InvalidInput("choose")
        return replace(draft, text=clean_text(typed, required=True)), "text"
    if step.name == "text":
        return replace(draft, text=clean_text(typed, required=step.text_required)), "text"
    declared = next(s for s in spec.steps if s.name == step.name)
    assert isinstance(declared, Write)
    pupil = await own_child(session, actor, draft.pupil_id)
    value = (
        typed
        if declared.check is None
        else declared.check(replace(draft, value=typed), pupil, today(now))
    )
    return replace(draft, value=value), "value"


def skip(draft: Draft, step: Asked) -> Draft:
    """An optional text left out; InvalidInput("stale") where nothing may be skipped."""
    if step.name != "text" or step.text_required:
        raise InvalidInput("stale")
    return replace(draft, text="")
