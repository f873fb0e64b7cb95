"""What to say and do when recording a training clip: the consent statement, a script to read,
and the recording steps for a model (Tavus docs, "Training from a video")."""

from __future__ import annotations

from dataclasses import dataclass

NAME_PLACEHOLDER = "[your full name]"
# Tavus's exact wording: the consent check compares the spoken statement with it.
CONSENT_TEMPLATE = ("I, {full_name}, am currently speaking and consent Tavus to create an AI "
                    "clone of me by using the audio and video samples I provide. I understand "
                    "that this AI clone can be used to create videos that look and sound like me.")

# About 80 words: ~30 s at a normal reading pace (150-160 words a minute).
SPEAKING_SCRIPT = (
    "Hello! I'm recording this clip so a digital version of me can hold conversations. "
    "I'm speaking at my usual pace, clearly, and I let my teeth show when I talk. "
    "Today was a good day: I had coffee by the window, answered a few messages, and went for a "
    "short walk. The quick brown fox jumps over the lazy dog. "
    "When I explain something, I like to keep it simple and friendly. "
    "Thanks for listening; now I'll stay quiet for a while."
)

PHOENIX_3 = "phoenix-3"


@dataclass(frozen=True)
class GuideStep:
    title: str
    detail: str
    quote: str = ""  # words to say exactly (the consent statement), shown copyable


def consent_statement(full_name: str) -> str:
    """The statement with the person's real full name (a placeholder when blank)."""
    name = " ".join(full_name.split()) or NAME_PLACEHOLDER
    return CONSENT_TEMPLATE.format(full_name=name)


def speaking_script() -> str:
    """A short script (~30 s) to read for the speaking part."""
    return SPEAKING_SCRIPT


def part_seconds(model_name: str) -> int:
    """Seconds of speaking, then of listening, the model wants."""
    return 60 if model_name == PHOENIX_3 else 30


def recording_guide(full_name: str, model_name: str = "phoenix-4") -> list[GuideStep]:
    """The steps of one continuous, unedited take, in order, then the set-up tips."""
    part = part_seconds(model_name)
    length = "1 min" if part == 60 else "30 s"
    statement = consent_statement(full_name)
    return [
        GuideStep("Say the consent statement first",
                  "Look at the camera and say it clearly, in English, word for word. Unless "
                  "you upload a separate consent clip, the video must open with it.",
                  quote=statement),
        GuideStep(f"Speak for {length}",
                  "Then keep talking naturally (read the script if you like): clear "
                  "articulation, teeth visible, at your usual pace."),
        GuideStep(f"Listen for {length}",
                  "Then stay quiet: lips closed, a neutral face, minimal movement, eyes on the "
                  "camera. Don't stop the recording in between: one take, no edits."),
        GuideStep("Framing",
                  "Camera at eye level, on a stand; landscape. Only you in the frame, face "
                  "centred and at least a quarter of the frame's height, waist-up and seated, "
                  "neck and jaw visible. No hands over the face, no hat, thick glasses or "
                  "earrings; a plain, still background."),
        GuideStep("Light",
                  "Even, soft light on the face that does not change: no window light coming and "
                  "going, no lamps switched during the take."),
        GuideStep("Sound",
                  "A quiet room; the device's built-in microphone with noise suppression off."),
        GuideStep("The file",
                  "MP4 with H.264 video and AAC audio, at least 25 fps and 720p (1080p is "
                  "better), under 750 MB, at least "
                  f"{'2 minutes' if part == 60 else '1 minute'} long. A desktop recorder does "
                  "better than a browser one; other files can be converted here."),
    ]
