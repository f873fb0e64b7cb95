"""The Personas screen's actions as work for the server's action board (lib/actions/board.py):
create, save (a JSON Patch of what changed), duplicate, delete, and a rehearsal.

Each create-like action has an attempt kept by the page: run again (a double click, a retry
after a display error, a rerun) it returns what the first run made instead of making another.
Plain Python.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from lib.actions.board import Action
from lib.personas.form import (
    PersonaForm,
    PersonaProblem,
    changed_fields,
    create_body,
    duplicate_body,
    form_from_persona,
    patch_operations,
)
from lib.tavus.client import Conversation, Persona, TavusClient, TavusError, conversation_body

__all__ = [
    "PersonaAttempt",
    "Rehearsal",
    "SaveOutcome",
    "create_work",
    "delete_work",
    "duplicate_work",
    "explain_refusal",
    "form_digest",
    "rehearsal_request",
    "rehearse_work",
    "save_work",
]


def form_digest(form: PersonaForm, *extra: object) -> str:
    """Identifies one request (a form and what it acts on) for its action and attempt."""
    return hashlib.sha256(repr((form, extra)).encode()).hexdigest()[:16]


_GONE_DOCUMENT = re.compile(r"document (\S+) does not exist", re.IGNORECASE)
_UNKNOWN_TAG = re.compile(r"no document has the tag ['\"]?(.+?)['\"]?$", re.IGNORECASE)


def _persona_gone(error: TavusError) -> bool:
    """Tavus's answer for a persona that is not there (deleted by someone else, meanwhile)."""
    return error.status_code in (404, 410) or (
        error.status_code == 400 and "invalid persona_id" in error.message.lower())


def explain_refusal(error: TavusError, *, replica_id: str | None = None) -> Exception:
    """What a Tavus refusal of a persona request means for the person, and what to do: a
    default replica or document deleted after the form was filled in, a tag no document has, a
    persona someone else deleted. Anything else is returned as it is (lib/errors.py says it)."""
    if error.status_code != 400 and not _persona_gone(error):
        return error
    said = error.message
    lowered = said.lower()
    if "invalid replica_uuid" in lowered or "invalid replica_id" in lowered:
        which = f" ({replica_id})" if replica_id else ""
        return PersonaProblem(f"Tavus no longer has the replica{which}: it was deleted after it "
                              "was chosen. Choose another default replica (or None), then try "
                              "again.")
    if (gone := _GONE_DOCUMENT.search(said)) is not None:
        return PersonaProblem(f"Document {gone[1]} no longer exists at Tavus (it was deleted "
                              "after it was chosen). Remove it from Documents, then try again.")
    if (tag := _UNKNOWN_TAG.search(said)) is not None:
        return PersonaProblem(f"No document has the tag “{tag[1]}”. Remove it from Document "
                              "tags, or give a document that tag on the Knowledge page first, "
                              "then try again.")
    if _persona_gone(error):
        return PersonaProblem("This persona no longer exists at Tavus (someone deleted it): "
                              "nothing was saved. Copy what you need from the form, then pick "
                              "another persona in the table, or press New instead to make a "
                              "new one.")
    return error


@dataclass
class PersonaAttempt:
    """One click on Create or Duplicate, kept by the page: the persona it made, once made."""

    made: Persona | None = None


def create_work(tavus: TavusClient, form: PersonaForm, attempt: PersonaAttempt, *,
                after: Callable[[Persona], None] = lambda persona: None
                ) -> Callable[[Action], Persona]:
    """Create the persona once; run again, it returns the same one."""
    body = create_body(form.checked())  # a value to fix raises before anything is claimed

    def work(action: Action) -> Persona:
        if attempt.made is not None:
            return attempt.made
        action.report(step="creating")
        try:
            attempt.made = tavus.create_persona(body)
        except TavusError as error:
            raise explain_refusal(error, replica_id=body.get("default_replica_id")) from error
        after(attempt.made)
        return attempt.made

    return work


@dataclass(frozen=True)
class SaveOutcome:
    persona_id: str
    changed: tuple[str, ...]  # the form's field names patched; () when nothing changed

    @property
    def text(self) -> str:
        if not self.changed:
            return "No changes: Tavus already had these values."
        return "Saved: " + ", ".join(name.replace("_", " ") for name in self.changed) + "."


def _edited_over(checked: PersonaForm, typed: PersonaForm, base: PersonaForm | None,
                 current: PersonaForm) -> PersonaForm:
    """`checked` with every field the person left as it was loaded (`typed` equal to `base`)
    taken from Tavus's current value instead: a teammate's change to a field this person did
    not touch stays."""
    if base is None:
        return checked
    kept = {f.name: getattr(current, f.name) for f in fields(PersonaForm)
            if f.name != "warnings" and getattr(typed, f.name) == getattr(base, f.name)}
    return replace(checked, **kept)


def save_work(tavus: TavusClient, persona_id: str, form: PersonaForm, *,
              base: PersonaForm | None = None,
              after: Callable[[SaveOutcome], None] = lambda outcome: None
              ) -> Callable[[Action], SaveOutcome]:
    """Patch the fields this person changed (`form` against `base`, the values the form was
    loaded with) where they differ from the persona as Tavus has it now, read at the click: a
    teammate's change to any other field — shown in the form or not — is kept. Without `base`,
    every field of the form is the person's. A repeat patches nothing."""
    checked = form.checked()

    def work(action: Action) -> SaveOutcome:
        action.report(step="reading")
        try:
            current = tavus.get_persona(persona_id)
            wanted = _edited_over(checked, form, base, form_from_persona(current.raw))
            operations = patch_operations(current.raw, wanted)
            if not operations:
                outcome = SaveOutcome(persona_id, ())
            else:
                action.report(step="saving")
                changed = tavus.patch_persona(persona_id, operations)
                outcome = SaveOutcome(persona_id, tuple(changed_fields(operations)) if changed
                                      else ())
        except TavusError as error:
            raise explain_refusal(error, replica_id=checked.default_replica_id) from error
        after(outcome)
        return outcome

    return work


def duplicate_work(tavus: TavusClient, persona_id: str, name: str, attempt: PersonaAttempt, *,
                   after: Callable[[Persona], None] = lambda persona: None
                   ) -> Callable[[Action], Persona]:
    """A copy of a persona (a stock one too) under `name`, made once."""

    def work(action: Action) -> Persona:
        if attempt.made is not None:
            return attempt.made
        try:
            action.report(step="reading")
            original = tavus.get_persona(persona_id)
            action.report(step="creating")
            attempt.made = tavus.create_persona(duplicate_body(original.raw, name=name))
        except TavusError as error:
            raise explain_refusal(error) from error
        after(attempt.made)
        return attempt.made

    return work


def delete_work(tavus: TavusClient, persona_id: str, *,
                after: Callable[[str], None] = lambda persona_id: None
                ) -> Callable[[Action], str]:
    """Delete a persona; one already gone counts as deleted (a second click, a teammate: Tavus
    answers 400 "Invalid persona_id" for a persona it does not have)."""

    def work(action: Action) -> str:
        action.report(step="deleting")
        try:
            tavus.delete_persona(persona_id)
        except TavusError as error:
            if not _persona_gone(error):
                raise
        after(persona_id)
        return persona_id

    return work


# --- Rehearsal: a test-mode conversation ----------------------------------------------------------
@dataclass
class Rehearsal:
    """One click on Rehearse: its request, and the conversation Tavus made."""

    request: dict[str, Any]
    conversation: Conversation | None = None

    @property
    def body(self) -> dict[str, Any]:
        """Exactly what goes to Tavus (the client's own body builder)."""
        return conversation_body(**_as_kwargs(self.request))


def rehearsal_request(persona: Persona, replica_id: str | None, *,
                      document_ids: tuple[str, ...] = (), document_tags: tuple[str, ...] = (),
                      ) -> dict[str, Any]:
    """The POST /v2/conversations body a real start would send, in Tavus's test mode (the
    replica does not join, nothing is billed). Raises ValueError without a replica."""
    replica = replica_id or persona.default_replica_id
    if not replica:
        raise ValueError(f"{persona.persona_name or persona.persona_id} has no default replica: "
                         "choose a replica to rehearse with.")
    request: dict[str, Any] = {"replica_id": replica, "persona_id": persona.persona_id,
                               "conversation_name": f"Rehearsal: {persona.persona_name or ''}"
                               .strip(), "test_mode": True}
    if document_ids:
        request["document_ids"] = list(document_ids)
    if document_tags:
        request["document_tags"] = list(document_tags)
    return request


def rehearse_work(tavus: TavusClient, rehearsal: Rehearsal) -> Callable[[Action], Rehearsal]:
    """Send the rehearsal's request once; run again, it returns the same conversation."""

    def work(action: Action) -> Rehearsal:
        if rehearsal.conversation is None:
            action.report(step="starting")
            try:
                rehearsal.conversation = tavus.create_conversation(
                    **_as_kwargs(rehearsal.request))
            except TavusError as error:
                raise explain_refusal(error, replica_id=rehearsal.request.get("replica_id")
                                      ) from error
        return rehearsal

    return work


def _as_kwargs(request: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in request.items()}
