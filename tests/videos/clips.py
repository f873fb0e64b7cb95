"""The clip recipes the video tests use: short and small wherever the check under test allows."""

from __future__ import annotations

from tests.video_media import CONSENT, Clip

SMALL = Clip(seconds=8, width=640, height=360, audio="speech")  # faces, light, motion
GOOD = Clip()  # 70 s 720p30: speech for 35 s, then quiet
SHORT = Clip(seconds=20, width=640, height=360)
FPS15 = SMALL.short(seconds=6, fps=15)
HEVC_MOV = SMALL.short(seconds=6, container="mov", video_codec="libx265")
VP9_WEBM = SMALL.short(seconds=6, container="webm", video_codec="libvpx-vp9",
                       audio_codec="libopus")
VFR = SMALL.short(seconds=6, variable_fps=True)
PORTRAIT = SMALL.short(seconds=6, width=360, height=640, face_height=0.4)
TWO_FACES = SMALL.short(faces=2)
NO_FACE = SMALL.short(faces=0)
SMALL_FACE = Clip(seconds=5, face_height=0.25)  # 720p: a 5 % face needs the pixels
LIGHT_JUMP = SMALL.short(lighting_jump=True)
PAN = SMALL.short(pan=True)
SILENT = SMALL.short(seconds=12, audio="silence")
TALKING = SMALL.short(seconds=40)  # speech from start to end: no listening part
NO_AUDIO = SMALL.short(seconds=6, audio_codec=None)
KEYFRAME_EACH_SECOND = SMALL.short(keyframe_seconds=1.0)  # decoded keyframes only
AUDIO_ONLY = Clip(seconds=5, container="m4a", video_codec=None)
CONSENT_CLIP = Clip(seconds=24, audio="speech_then_quiet", speech_seconds=21, text=CONSENT)
CONSENT_SILENT = CONSENT_CLIP.short(audio="silence")

ALL = [SMALL, GOOD, SHORT, FPS15, HEVC_MOV, VP9_WEBM, VFR, PORTRAIT, TWO_FACES, NO_FACE,
       SMALL_FACE, LIGHT_JUMP, PAN, SILENT, TALKING, NO_AUDIO, KEYFRAME_EACH_SECOND, AUDIO_ONLY,
       CONSENT_CLIP,
       CONSENT_SILENT]

if __name__ == "__main__":  # draw them all ahead of a run
    from tests.video_media import clip_path

    for clip in ALL:
        print(clip_path(clip), flush=True)
