"""Persona rules for the simulator: which layers and layer fields Tavus declares, and their values.

tavus-api.md: "Read the contract for each layer's fields: only send what it declares." The
simulator holds the app to that: a layer or a field the contract does not declare, a value outside
a declared enum or of the wrong JSON type is a 400, so the mistake shows here and not against
Tavus. The layers object is otherwise stored exactly as sent.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError

PIPELINE_MODES = ("full", "echo")
PERCEPTION_MODELS_ALL = ("raven-1", "raven-0", "off")
DEFAULT_PERCEPTION_MODEL = "raven-1"  # the contract's default for a persona's perception layer

_STR, _BOOL, _LIST, _OBJ = str, bool, list, dict
_TYPE_WORDS = {str: "a string", bool: "a boolean", list: "an array", dict: "an object"}

# layer -> field -> (JSON type, allowed values or None): the create contract's declarations.
LAYER_FIELDS: dict[str, dict[str, tuple[type, tuple[str, ...] | None]]] = {
    "perception": {
        "perception_model": (_STR, PERCEPTION_MODELS_ALL),
        "visual_awareness_queries": (_LIST, None),
        "visual_tool_prompt": (_STR, None),
        "visual_tools": (_LIST, None),
        "audio_awareness_queries": (_LIST, None),
        "audio_tool_prompt": (_STR, None),
        "audio_tools": (_LIST, None),
    },
    "stt": {
        "stt_engine": (_STR, ("tavus-auto", "tavus-parakeet", "tavus-soniox", "tavus-whisper",
                              "tavus-deepgram-medical", "tavus-advanced")),
        "hotwords": (_STR, None),
    },
    "conversational_flow": {
        "turn_detection_model": (_STR, ("sparrow-1", "sparrow-0")),
        "turn_taking_patience": (_STR, ("low", "medium", "high")),
        "replica_interruptibility": (_STR, ("low", "medium", "high")),
        "voice_isolation": (_STR, ("off", "near")),
        "wake_phrase": (_STR, None),
        "idle_engagement": (_STR, ("off", "patient", "eager")),
    },
    "llm": {
        "model": (_STR, None),
        "base_url": (_STR, None),
        "api_key": (_STR, None),
        "speculative_inference": (_BOOL, None),
        "tools": (_LIST, None),
        "headers": (_OBJ, None),
        "extra_body": (_OBJ, None),
    },
    "tts": {
        "api_key": (_STR, None),
        "tts_engine": (_STR, ("cartesia", "elevenlabs")),
        "external_voice_id": (_STR, None),
        "voice_settings": (_OBJ, None),
        "tts_emotion_control": (_BOOL, None),
        "tts_model_name": (_STR, None),
        "pronunciation_dictionary_id": (_STR, None),
    },
}


def check_layers(layers: Any) -> dict[str, Any]:
    """-> the layers object as sent, once every layer and field is one the contract declares."""
    if not isinstance(layers, dict):
        raise ApiError(400, "layers must be an object")
    for name, layer in layers.items():
        fields = LAYER_FIELDS.get(name)
        if fields is None:
            raise ApiError(400, f"Invalid layers: unknown layer {name!r} (use "
                                f"{', '.join(LAYER_FIELDS)})")
        if not isinstance(layer, dict):
            raise ApiError(400, f"layers.{name} must be an object")
        for field, value in layer.items():
            if field not in fields:
                raise ApiError(400, f"Invalid layers: unknown field layers.{name}.{field}")
            kind, allowed = fields[field]
            if value is None:
                continue  # null: "use the default"
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ApiError(400, f"layers.{name}.{field} must be {_TYPE_WORDS[kind]}")
            if allowed is not None and value not in allowed:
                raise ApiError(400, f"Invalid layers.{name}.{field} {value!r}: use one of "
                                    f"{', '.join(allowed)}")
    return layers


def perception_model(layers: dict[str, Any]) -> str:
    """The perception model a persona runs: its perception layer's, else the default."""
    layer = layers.get("perception")
    model = layer.get("perception_model") if isinstance(layer, dict) else None
    return model if isinstance(model, str) else DEFAULT_PERCEPTION_MODEL


def str_list(body: dict[str, Any], name: str) -> list[str] | None:
    """An optional array of strings (None when absent or null)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{name} must be an array of strings")
    return list(value)
