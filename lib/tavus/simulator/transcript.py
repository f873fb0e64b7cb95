"""What the simulator says happened in a call: the system prompt, the transcript and the Raven
perception summary that `GET /v2/conversations/{id}?verbose=true` reports after a joined call.

Plain functions of the call's facts; no state, no clock (times are passed in).
"""

from __future__ import annotations

from typing import Any

# The scripted exchange after the greeting: (role, line). {name} is the replica's name.
_EXCHANGE: tuple[tuple[str, str], ...] = (
    ("user", "Hi! I'm trying out the demo. Can you hear me all right?"),
    ("assistant", "Loud and clear. I'm {name}, a digital twin: ask me anything you like."),
    ("user", "What would I use a replica like you for?"),
    (
        "assistant",
        "Sales demos, onboarding, interview practice: anywhere a face-to-face conversation "
        "helps and nobody has the time to hold it a hundred times a day.",
    ),
    ("user", "Great, that's what I wanted to know. Thanks!"),
    ("assistant", "Thanks for stopping by. Have a good rest of your day!"),
)
# A nominal timeline: (seconds from the start, duration) for the greeting, then each line above.
# A call shorter than the timeline squeezes it to fit.
_TIMELINE: tuple[tuple[float, float], ...] = (
    (0.5, 3.2),
    (5.1, 2.6),
    (8.4, 5.0),
    (14.2, 2.2),
    (17.0, 7.5),
    (25.6, 2.0),
    (28.3, 3.1),
)
_TIMELINE_END = 31.4


def default_greeting(replica_name: str) -> str:
    return f"Hi, I'm {replica_name}. How can I help you today?"


def system_prompt(
    replica_name: str,
    persona_name: str | None,
    persona_prompt: str | None,
    conversational_context: str | None,
) -> str:
    """The whole prompt the replica ran with, as Tavus puts it first in the transcript."""
    parts = [
        f"You are {replica_name}, a digital twin: a real-time AI video replica speaking with a "
        "person in a live video call. Stay in character for the whole call. Keep every answer "
        "short and conversational: one to three sentences, spoken aloud, no lists, no Markdown, "
        "no emojis. Never say that you are reading from a prompt. If you cannot hear or see the "
        "person clearly, say so and ask them to repeat.",
    ]
    if persona_name:
        parts.append(f"Persona: {persona_name}.")
    if persona_prompt:
        parts.append(persona_prompt)
    if conversational_context:
        parts.append(f"Conversational context: {conversational_context}")
    return "\n\n".join(parts)


def transcript(
    *,
    replica_name: str,
    system: str,
    greeting: str,
    start_wall: float,
    call_seconds: float,
) -> list[dict[str, Any]]:
    """The transcript of a joined call that lasted `call_seconds` from `start_wall` (epoch s).

    The system prompt first, then the greeting, then a short user/assistant exchange; every turn
    starts and ends within the call, later turns later.
    """
    scale = min(1.0, max(0.0, call_seconds) / _TIMELINE_END)
    lines = [("assistant", greeting)] + [
        (role, text.format(name=replica_name)) for role, text in _EXCHANGE
    ]
    entries: list[dict[str, Any]] = [
        {
            "role": "system",
            "content": system,
            "timestamp": round(start_wall, 3),
            "seconds_from_start": 0.0,
            "duration": 0.0,
        }
    ]
    for (role, content), (start, duration) in zip(lines, _TIMELINE, strict=True):
        at = start * scale
        entries.append(
            {
                "role": role,
                "content": content,
                "timestamp": round(start_wall + at, 3),
                "seconds_from_start": round(at, 3),
                "duration": round(duration * scale, 3),
            }
        )
    return entries


def perception_analysis(replica_name: str) -> str:
    """Raven's end-of-call summary of the user: Markdown bullets, with characters that look like
    markup (a client must show it as text)."""
    return (
        "- **Appearance:** one person, seated, centred in frame, in even indoor light; dark top, "
        "plain background.\n"
        f"- **Behaviour:** looked at the camera most of the time and nodded while {replica_name} "
        "spoke; leaned in at the question about use cases.\n"
        "- **Emotional state:** calm and curious; smiled at the greeting, relaxed by the end.\n"
        "- **Screen activity:** no screen was shared.\n"
        "- **Notes:** held up a sticky note reading <b>hello & welcome</b> for about two "
        "seconds; 2 * 3 = 6 was written on a whiteboard behind them."
    )
