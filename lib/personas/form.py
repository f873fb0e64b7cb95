"""A persona as the Personas screen edits it: the fields a demo team changes most, the request
body that creates one, and the JSON Patch (RFC 6902) that changes exactly what was changed.

Everything else Tavus holds for a persona (tools, STT hotwords, visual queries, a custom LLM's
URL and key, …) is never read into the form and never sent back: an edit patches only the paths
the form changed, so nothing the form does not show can be dropped. Plain Python.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "LLM_MODELS",
    "MAX_NAME_LENGTH",
    "MAX_PROMPT_LENGTH",
    "PERCEPTION_MODELS",
    "PROMPT_WARN_LENGTH",
    "TTS_ENGINES",
    "TURN_LEVELS",
    "PersonaForm",
    "PersonaProblem",
    "create_body",
    "duplicate_body",
    "form_from_persona",
    "patch_operations",
]

# Tavus-hosted LLMs the contract names (tavus-gpt-oss is its recommended start).
LLM_MODELS = ("tavus-gpt-oss", "tavus-gemini-2.5-flash", "tavus-claude-haiku-4.5",
              "tavus-gpt-5.2", "tavus-gemini-3-flash")
TTS_ENGINES = ("cartesia", "elevenlabs")
PERCEPTION_MODELS = ("raven-1", "raven-0", "off")
TURN_LEVELS = ("low", "medium", "high")

MAX_NAME_LENGTH = 120
# Tavus: best under ~5,000 tokens, degrading at 15,000-20,000 (~4 characters a token).
PROMPT_WARN_LENGTH = 20_000
MAX_PROMPT_LENGTH = 60_000

# The form's fields as JSON Pointers into the persona as GET returns it: one place for each.
POINTERS = {
    "persona_name": "/persona_name",
    "system_prompt": "/system_prompt",
    "default_replica_id": "/default_replica_id",
    "document_ids": "/document_ids",
    "document_tags": "/document_tags",
    "llm_model": "/layers/llm/model",
    "tts_engine": "/layers/tts/tts_engine",
    "voice_id": "/layers/tts/external_voice_id",
    "perception_model": "/layers/perception/perception_model",
    "turn_taking_patience": "/layers/conversational_flow/turn_taking_patience",
    "replica_interruptibility": "/layers/conversational_flow/replica_interruptibility",
}


class PersonaProblem(ValueError):
    """A form value to fix; the text says which and how (Markdown-safe plain text)."""


@dataclass(frozen=True)
class PersonaForm:
    """What the screen edits. None means "not set: Tavus's default"."""

    persona_name: str
    system_prompt: str
    default_replica_id: str | None = None
    document_ids: tuple[str, ...] = ()
    document_tags: tuple[str, ...] = ()
    llm_model: str | None = None
    tts_engine: str | None = None
    voice_id: str | None = None
    perception_model: str | None = None
    turn_taking_patience: str | None = None
    replica_interruptibility: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def checked(self) -> PersonaForm:
        """This form, trimmed and validated; raises PersonaProblem. Warnings ride along."""
        name = " ".join(self.persona_name.split())
        prompt = self.system_prompt.strip()
        if not name:
            raise PersonaProblem("Give the persona a name (it is how presets and Start find it).")
        if len(name) > MAX_NAME_LENGTH:
            raise PersonaProblem(f"The name is {len(name)} characters; keep it under "
                                 f"{MAX_NAME_LENGTH}.")
        if not prompt:
            raise PersonaProblem("Write a system prompt: what the replica is, who it talks to and "
                                 "what it should do. Tavus needs one for every persona.")
        if len(prompt) > MAX_PROMPT_LENGTH:
            raise PersonaProblem(
                f"The system prompt is {len(prompt):,} characters (about {len(prompt) // 4:,} "
                f"tokens); Tavus slows down and follows instructions less well long before that. "
                f"Cut it under {MAX_PROMPT_LENGTH:,} characters, and put reference material in "
                "the knowledge base instead.")
        warnings = []
        if len(prompt) > PROMPT_WARN_LENGTH:
            warnings.append(f"The prompt is about {len(prompt) // 4:,} tokens: Tavus works best "
                            "under 5,000. Move reference material into documents.")
        for label, value, allowed in (
            ("LLM model", self.llm_model, None),
            ("TTS engine", self.tts_engine, TTS_ENGINES),
            ("Perception", self.perception_model, PERCEPTION_MODELS),
            ("Turn-taking patience", self.turn_taking_patience, TURN_LEVELS),
            ("Interruptibility", self.replica_interruptibility, TURN_LEVELS),
        ):
            if value is not None and allowed is not None and value not in allowed:
                raise PersonaProblem(f"{label} must be one of {', '.join(allowed)}.")
        voice = (self.voice_id or "").strip() or None
        if voice is not None and self.tts_engine is None:
            raise PersonaProblem("A voice id belongs to a TTS engine: choose Cartesia or "
                                 "ElevenLabs for it, or clear the voice id.")
        return PersonaForm(
            persona_name=name, system_prompt=prompt,
            default_replica_id=(self.default_replica_id or "").strip() or None,
            document_ids=tuple(dict.fromkeys(d.strip() for d in self.document_ids if d.strip())),
            document_tags=tuple(dict.fromkeys(t.strip() for t in self.document_tags
                                              if t.strip())),
            llm_model=(self.llm_model or "").strip() or None, tts_engine=self.tts_engine,
            voice_id=voice, perception_model=self.perception_model,
            turn_taking_patience=self.turn_taking_patience,
            replica_interruptibility=self.replica_interruptibility,
            warnings=tuple(warnings),
        )

    def values(self) -> dict[str, Any]:
        """pointer -> value (None: not set), in POINTERS' order."""
        return {
            POINTERS["persona_name"]: self.persona_name,
            POINTERS["system_prompt"]: self.system_prompt,
            POINTERS["default_replica_id"]: self.default_replica_id,
            POINTERS["document_ids"]: list(self.document_ids),
            POINTERS["document_tags"]: list(self.document_tags),
            POINTERS["llm_model"]: self.llm_model,
            POINTERS["tts_engine"]: self.tts_engine,
            POINTERS["voice_id"]: self.voice_id,
            POINTERS["perception_model"]: self.perception_model,
            POINTERS["turn_taking_patience"]: self.turn_taking_patience,
            POINTERS["replica_interruptibility"]: self.replica_interruptibility,
        }


# --- JSON Pointer helpers (RFC 6901) -------------------------------------------------------------
def _parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


_MISSING = object()


def _get(document: Mapping[str, Any], pointer: str) -> Any:
    here: Any = document
    for part in _parts(pointer):
        if not isinstance(here, Mapping) or part not in here:
            return _MISSING
        here = here[part]
    return here


def form_from_persona(persona: Mapping[str, Any]) -> PersonaForm:
    """The form's view of a persona as GET returns it (unknown values kept as they are)."""
    def text(name: str) -> str | None:
        value = _get(persona, POINTERS[name])
        return value if isinstance(value, str) and value else None

    def texts(name: str) -> tuple[str, ...]:
        value = _get(persona, POINTERS[name])
        return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

    return PersonaForm(
        persona_name=text("persona_name") or "", system_prompt=text("system_prompt") or "",
        default_replica_id=text("default_replica_id"), document_ids=texts("document_ids"),
        document_tags=texts("document_tags"), llm_model=text("llm_model"),
        tts_engine=text("tts_engine"), voice_id=text("voice_id"),
        perception_model=text("perception_model"),
        turn_taking_patience=text("turn_taking_patience"),
        replica_interruptibility=text("replica_interruptibility"),
    )


def _nest(document: dict[str, Any], pointer: str, value: Any) -> None:
    here = document
    parts = _parts(pointer)
    for part in parts[:-1]:
        here = here.setdefault(part, {})
    here[parts[-1]] = value


def create_body(form: PersonaForm) -> dict[str, Any]:
    """POST /v2/personas body for a checked form: only what is set."""
    body: dict[str, Any] = {"pipeline_mode": "full"}
    for pointer, value in form.values().items():
        if value is None or value == []:
            continue
        _nest(body, pointer, value)
    return body


def patch_operations(current: Mapping[str, Any], form: PersonaForm) -> list[dict[str, Any]]:
    """The JSON Patch from `current` (the persona as GET returned it) to the form: one
    operation per changed field, nothing for the rest. A value set where its parent object is
    absent is added as the smallest new object that holds it."""
    operations: list[dict[str, Any]] = []
    planned = copy.deepcopy(dict(current))  # the persona as the operations so far leave it
    for pointer, wanted in form.values().items():
        have = _get(planned, pointer)
        if wanted is None or (wanted == [] and have is _MISSING):
            if have is not _MISSING and have is not None:
                operations.append({"op": "remove", "path": pointer})
                _remove(planned, pointer)
            continue
        if have == wanted:
            continue
        if have is not _MISSING:
            operations.append({"op": "replace", "path": pointer, "value": wanted})
            _nest(planned, pointer, wanted)
            continue
        # Find the deepest existing parent; add the rest as one nested value.
        parts = _parts(pointer)
        depth = 0
        here: Any = planned
        while depth < len(parts) - 1 and isinstance(here, Mapping) and parts[depth] in here \
                and isinstance(here[parts[depth]], Mapping):
            here = here[parts[depth]]
            depth += 1
        value: Any = wanted
        for part in reversed(parts[depth + 1:]):
            value = {part: value}
        at = "/" + "/".join(_escape(p) for p in parts[:depth + 1])
        operations.append({"op": "add", "path": at, "value": value})
        _nest(planned, pointer, wanted)
    return operations


def _remove(document: dict[str, Any], pointer: str) -> None:
    parts = _parts(pointer)
    here: Any = document
    for part in parts[:-1]:
        here = here.get(part, {}) if isinstance(here, dict) else {}
    if isinstance(here, dict):
        here.pop(parts[-1], None)


# Read-only or per-account fields a copy must not carry; secrets are kept at Tavus only if the
# original holds them (a duplicate of a custom-LLM persona needs its key to work).
_NOT_COPIED = ("persona_id", "created_at", "updated_at", "persona_type")


def duplicate_body(persona: Mapping[str, Any], *, name: str) -> dict[str, Any]:
    """POST /v2/personas body for a copy of `persona` (a stock one included) named `name`:
    every field it has, as it has it, except its identity."""
    body = {k: copy.deepcopy(v) for k, v in persona.items()
            if k not in _NOT_COPIED and v is not None}
    body["persona_name"] = name
    body.setdefault("pipeline_mode", "full")
    return body


def changed_fields(operations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The form's names of the fields a patch touches (for a confirmation line)."""
    by_pointer = {pointer: name for name, pointer in POINTERS.items()}
    names = []
    for op in operations:
        path = str(op.get("path", ""))
        match = next((n for p, n in by_pointer.items() if p == path or p.startswith(path + "/")),
                     path)
        names.append(match)
    return names
