"""The persona form: checks, the create body, and a JSON Patch of exactly what changed."""

from __future__ import annotations

import copy

import pytest

from lib.personas.form import (
    MAX_PROMPT_LENGTH,
    PROMPT_WARN_LENGTH,
    PersonaForm,
    PersonaProblem,
    changed_fields,
    create_body,
    duplicate_body,
    form_from_persona,
    patch_operations,
)

STORED = {
    "persona_id": "p123",
    "persona_name": "Sales demo",
    "system_prompt": "You sell bikes.",
    "default_replica_id": "r1",
    "document_ids": ["d1"],
    "document_tags": [],
    "persona_type": "user",
    "created_at": "2026-12-01T10:00:00Z",
    "layers": {
        "llm": {"model": "tavus-gpt-oss", "tools": [{"type": "function", "function": {
            "name": "price"}}], "api_key": "sk-secret"},
        "stt": {"hotwords": "Brompton"},
        "perception": {"perception_model": "raven-1"},
    },
}


def apply(document: dict, operations: list[dict]) -> dict:
    """A small RFC 6902 applier (add/replace/remove on objects): what Tavus would hold after."""
    result = copy.deepcopy(document)
    for op in operations:
        parts = op["path"].split("/")[1:]
        here = result
        for part in parts[:-1]:
            here = here[part]  # a KeyError here is a patch Tavus would refuse
        if op["op"] == "remove":
            del here[parts[-1]]
        elif op["op"] == "replace":
            assert parts[-1] in here, f"replace of a missing member: {op}"
            here[parts[-1]] = op["value"]
        else:
            here[parts[-1]] = op["value"]
    return result


def test_an_unchanged_form_patches_nothing() -> None:
    assert patch_operations(STORED, form_from_persona(STORED)) == []


def test_a_changed_prompt_is_one_replace_of_that_path_only() -> None:
    form = form_from_persona(STORED)
    edited = PersonaForm(**{**form.__dict__, "system_prompt": "You sell e-bikes."}).checked()
    ops = patch_operations(STORED, edited)
    assert ops == [{"op": "replace", "path": "/system_prompt", "value": "You sell e-bikes."}]
    assert changed_fields(ops) == ["system_prompt"]


def test_fields_the_form_does_not_show_survive_an_edit() -> None:
    form = form_from_persona(STORED)
    edited = PersonaForm(**{**form.__dict__, "llm_model": "tavus-gpt-5.2",
                            "turn_taking_patience": "high"}).checked()
    after = apply(STORED, patch_operations(STORED, edited))
    assert after["layers"]["llm"]["tools"] == STORED["layers"]["llm"]["tools"]
    assert after["layers"]["llm"]["api_key"] == "sk-secret"
    assert after["layers"]["stt"] == {"hotwords": "Brompton"}
    assert after["layers"]["llm"]["model"] == "tavus-gpt-5.2"
    # A layer the persona did not have is added as the smallest object that holds the value.
    assert after["layers"]["conversational_flow"] == {"turn_taking_patience": "high"}


def test_a_value_under_missing_layers_is_added_with_its_parents() -> None:
    bare = {"persona_id": "p9", "persona_name": "Bare", "system_prompt": "Hi."}
    form = PersonaForm(persona_name="Bare", system_prompt="Hi.", perception_model="off")
    ops = patch_operations(bare, form.checked())
    assert ops == [{"op": "add", "path": "/layers",
                    "value": {"perception": {"perception_model": "off"}}}]


def test_a_cleared_default_replica_is_removed_and_an_absent_one_stays_absent() -> None:
    form = form_from_persona(STORED)
    cleared = PersonaForm(**{**form.__dict__, "default_replica_id": None}).checked()
    assert patch_operations(STORED, cleared) == [{"op": "remove",
                                                   "path": "/default_replica_id"}]
    bare = {k: v for k, v in STORED.items() if k != "default_replica_id"}
    assert patch_operations(bare, form_from_persona(bare)) == []


def test_documents_replace_the_list() -> None:
    form = form_from_persona(STORED)
    edited = PersonaForm(**{**form.__dict__, "document_ids": ("d1", "d2")}).checked()
    assert patch_operations(STORED, edited) == [
        {"op": "replace", "path": "/document_ids", "value": ["d1", "d2"]}]


def test_the_create_body_holds_only_what_is_set() -> None:
    form = PersonaForm(persona_name="  Tour   guide ", system_prompt=" Guide people. ",
                       document_ids=("d1", "d1", " "), perception_model="off",
                       turn_taking_patience="low").checked()
    assert create_body(form) == {
        "pipeline_mode": "full", "persona_name": "Tour guide",
        "system_prompt": "Guide people.", "document_ids": ["d1"],
        "layers": {"perception": {"perception_model": "off"},
                   "conversational_flow": {"turn_taking_patience": "low"}}}


@pytest.mark.parametrize(("changes", "says"), [
    ({"persona_name": "   "}, "name"),
    ({"persona_name": "x" * 121}, "under 120"),
    ({"system_prompt": ""}, "system prompt"),
    ({"system_prompt": "x" * (MAX_PROMPT_LENGTH + 1)}, "knowledge base"),
    ({"tts_engine": "festival"}, "cartesia"),
    ({"perception_model": "raven-9"}, "raven-1"),
    ({"turn_taking_patience": "eager"}, "low, medium, high"),
    ({"voice_id": "abc"}, "TTS engine"),
])
def test_a_bad_value_is_refused_with_what_to_do(changes: dict, says: str) -> None:
    form = PersonaForm(**{"persona_name": "Ok", "system_prompt": "Fine.", **changes})
    with pytest.raises(PersonaProblem, match=says):
        form.checked()


def test_a_long_prompt_is_accepted_with_a_warning() -> None:
    form = PersonaForm(persona_name="Long", system_prompt="y" * (PROMPT_WARN_LENGTH + 10))
    assert "5,000" in form.checked().warnings[0]
    assert PersonaForm(persona_name="Short", system_prompt="ok").checked().warnings == ()


def test_a_duplicate_keeps_everything_but_its_identity() -> None:
    body = duplicate_body(STORED, name="Sales demo (copy)")
    assert body["persona_name"] == "Sales demo (copy)"
    assert "persona_id" not in body and "created_at" not in body and "persona_type" not in body
    assert body["layers"] == STORED["layers"] and body["layers"] is not STORED["layers"]
    assert body["pipeline_mode"] == "full"
