"""A headshot taken with the computer's camera, at the camera's own resolution (components v2).

`st.camera_input` captures at the size the widget has on screen (532×299 in a 1400 px window),
under Tavus's 512×512 minimum. Here the page asks for up to 1920×1080 and draws the video track
on a canvas of `videoWidth×videoHeight`: the photo is what the camera delivers.

The widget, all in the browser until the user says "Use this photo":

1. getUserMedia starts the camera. A camera whose short side is under 512 px, a refusal or no
   camera at all set the state value `problem = {kind, …}`; Python shows what to do.
2. The live preview is mirrored (CSS only, like a mirror) with a framing guide over it: an oval
   for the head, a line for the shoulders. "Take photo" counts down 3 seconds.
3. The still is drawn **unmirrored** (the saved photo is as the camera sees it) and encoded as a
   JPEG (quality 0.92); "Retake" or "Use this photo". The camera is switched off meanwhile.
4. "Use this photo" sets `photo = {token, data_url, width, height, settings, label, taken_at}`
   (a 1920×1080 JPEG is a few hundred KB as a data URL). Python decodes it into a session slot
   and answers `received: token`; the page then swaps the state for `{token, width, height,
   taken_at}`, since the browser resends every widget's state with every rerun (measured: 177 KB
   per click for a 1280×720 photo otherwise). `camera_headshot` returns the slot's `CameraShot`
   until "Retake" clears the state.

The shot's name is "Camera headshot, 30 Nov 10:24" in the *viewer's* clock (lib/ui/times.py:
`st.context.timezone`, else `st.context.timezone_offset`, else UTC: a hosted server runs on UTC).
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import streamlit as st

from lib.text import escape_markdown
from lib.ui.times import viewer_zone

log = logging.getLogger("replica_studio.ui.camera")

MIN_SIDE = 512  # Tavus's minimum, on the photo's short side
_DATA_URL_PREFIX = "data:image/jpeg;base64,"


@dataclass(frozen=True)
class CameraShot:
    """A photo from the camera; `getvalue()`/`name` like an uploaded file."""

    data: bytes
    width: int
    height: int
    name: str
    camera: str = ""  # the camera's label, when the browser gives it

    def getvalue(self) -> bytes:
        return self.data


# Keyboard and screen readers (WCAG 2.1 AA; tests/e2e/test_keyboard_journey.py): native buttons
# (Tab, Enter, Space) with a visible focus ring; the group is named by the label. When the button
# just used goes away (Take photo once the photo is taken, Use this photo once used), focus moves
# to the next step's button, so a keyboard user never falls back to the top of the page; Take
# photo stays focusable during the countdown (aria-disabled, not disabled, which would drop the
# focus). One visually hidden live region says each step, the countdown included; the visible
# status repeats it in short and is not live itself (it would be read twice).
_HTML = """
<div class="cam" data-testid="cameraHeadshot" data-state="starting" role="group"
     aria-labelledby="cam-label" tabindex="-1">
  <div class="cam-label" id="cam-label" data-testid="cameraHeadshotLabel"></div>
  <div class="cam-stage" data-testid="cameraHeadshotStage">
    <video class="cam-video" data-testid="cameraHeadshotVideo" autoplay muted playsinline
           aria-label="Camera preview, mirrored"></video>
    <svg class="cam-guide" data-testid="cameraHeadshotGuide" aria-hidden="true">
      <ellipse class="cam-oval"></ellipse>
      <path class="cam-shoulders"></path>
    </svg>
    <img class="cam-still" data-testid="cameraHeadshotStill" alt="The photo taken" hidden>
    <div class="cam-count" data-testid="cameraHeadshotCountdown" aria-hidden="true"
         hidden></div>
    <div class="cam-wait" data-testid="cameraHeadshotWait"></div>
  </div>
  <div class="cam-row">
    <span class="cam-status" data-testid="cameraHeadshotStatus"></span>
    <span class="cam-actions">
      <button type="button" data-testid="cameraHeadshotTake" class="cam-primary"
              hidden>Take photo</button>
      <button type="button" data-testid="cameraHeadshotRetake" hidden>Retake</button>
      <button type="button" data-testid="cameraHeadshotUse" class="cam-primary"
              hidden>Use this photo</button>
      <button type="button" data-testid="cameraHeadshotRetry" hidden>Try again</button>
    </span>
  </div>
  <div class="cam-sr" role="status" aria-live="polite" aria-atomic="true"
       data-testid="cameraHeadshotAnnounce"></div>
</div>
"""

_CSS = """
[hidden] { display: none !important; }
.cam { font-family: var(--st-font); color: var(--st-text-color); }
.cam:focus { outline: none; }  /* focus rests on the group only while the camera starts */
.cam-label { font-size: 0.875rem; margin-bottom: 0.25rem; }
.cam-stage { position: relative; width: 100%; aspect-ratio: 16 / 9; overflow: hidden;
             border-radius: var(--st-base-radius); background: #111; }
.cam-video, .cam-still, .cam-guide { position: absolute; inset: 0; width: 100%; height: 100%;
                                     object-fit: contain; }
.cam[data-state="used"] .cam-stage { width: 40%; }
.cam[data-state="problem"] .cam-stage, .cam[data-state="held"] .cam-stage {
  aspect-ratio: auto; height: 6rem; }  /* the checks below show it large */
.cam-video { transform: scaleX(-1); }  /* a mirror for the person; the photo is not mirrored */
.cam-guide { pointer-events: none; }
.cam-oval, .cam-shoulders { fill: none; stroke: rgba(255, 255, 255, 0.9); stroke-width: 0.5%;
  stroke-dasharray: 2% 1.5%; filter: drop-shadow(0 0 2px rgba(0, 0, 0, 0.8)); }
.cam[data-state="review"] .cam-guide, .cam[data-state="used"] .cam-guide,
.cam[data-state="problem"] .cam-guide, .cam[data-state="starting"] .cam-guide,
.cam[data-state="held"] .cam-guide { display: none; }
.cam-count { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; font-size: 6rem; font-weight: 700; color: #fff;
  text-shadow: 0 0 12px rgba(0, 0, 0, 0.9); }
.cam-wait { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; color: #ddd; font-size: 0.9rem; padding: 1rem; text-align: center; }
.cam[data-state="live"] .cam-wait, .cam[data-state="countdown"] .cam-wait,
.cam[data-state="review"] .cam-wait, .cam[data-state="used"] .cam-wait { display: none; }
.cam-row { display: flex; justify-content: space-between; align-items: center; gap: 1rem;
           margin-top: 0.5rem; }
.cam-status { font-size: 0.8rem; opacity: 0.8; }
.cam-actions { display: flex; gap: 0.5rem; }
.cam-actions button { cursor: pointer; font: inherit; font-size: 0.875rem;
  padding: 0.3rem 0.8rem; border-radius: var(--st-button-radius, var(--st-base-radius));
  border: 1px solid var(--st-border-color); background: var(--st-background-color);
  color: var(--st-text-color); }
.cam-actions button:hover { border-color: var(--st-primary-color);
  color: var(--st-primary-color); }
.cam-actions button.cam-primary { background: var(--st-primary-color); color: #fff;
  border-color: var(--st-primary-color); }
.cam-actions button.cam-primary:hover { color: #fff; opacity: 0.9; }
.cam-actions button:disabled, .cam-actions button[aria-disabled="true"] {
  opacity: 0.5; cursor: default; }
.cam-actions button:focus-visible { outline: 2px solid var(--st-primary-color);
  outline-offset: 2px; }
.cam-sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0;
          overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
"""

# One module instance per page, so per-widget state lives in a WeakMap keyed by the root: the
# function runs again on every data change and must not restart a camera already running.
_JS = """
const instances = new WeakMap();
const MIN_SIDE = 512;
const COUNTDOWN_S = 3;
const JPEG_QUALITY = 0.92;
const SVG = "http://www.w3.org/2000/svg";

function newToken() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

// Said by screen readers (the live region); the same words twice in a row are said again.
function announce(inst, text) {
  inst.announcer.textContent = inst.announcer.textContent === text ? text + "\\u00a0" : text;
}

// The element focused inside this widget (its shadow root's, or the document's), or null.
function focusedIn(inst) {
  const active = inst.root.getRootNode().activeElement;
  return active && inst.root.contains(active) ? active : null;
}

// After the person used one of the widget's buttons: focus the next step's button, unless the
// focus has meanwhile gone somewhere else on the page (then it is left there).
function moveFocus(inst, button) {
  if (!inst.refocus) return;
  const active = document.activeElement;
  if (!focusedIn(inst) && active && active !== document.body) { inst.refocus = false; return; }
  (button && !button.hidden ? button : inst.root).focus();
}

const NEXT = { live: "take", countdown: "take", review: "use", used: "retake", held: "retake",
               problem: "retry" };

function setMode(inst, mode, status, said) {
  inst.mode = mode;
  inst.root.dataset.state = mode;
  inst.video.hidden = !(mode === "live" || mode === "countdown");
  inst.still.hidden = !(mode === "review" || mode === "used");
  inst.take.hidden = !(mode === "live" || mode === "countdown");
  inst.take.setAttribute("aria-disabled", String(mode === "countdown"));
  inst.use.hidden = mode !== "review";
  inst.retake.hidden = !(mode === "review" || mode === "used" || mode === "held");
  inst.retry.hidden = mode !== "problem";
  inst.count.hidden = mode !== "countdown";
  inst.status.textContent = status || "";
  if (said !== null) announce(inst, said || status || "");
  moveFocus(inst, inst[NEXT[mode]]);
}

function stopCamera(inst) {
  if (inst.timer) { clearInterval(inst.timer); inst.timer = null; }
  if (inst.stream) { for (const t of inst.stream.getTracks()) t.stop(); }
  inst.stream = null;
  inst.video.srcObject = null;
}

function problemKind(err) {
  const name = (err && err.name) || "";
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError")
    return "denied";
  if (name === "NotFoundError" || name === "DevicesNotFoundError" ||
      name === "OverconstrainedError") return "none";
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError")
    return "busy";
  return "error";
}

function report(inst, problem) {
  stopCamera(inst);
  inst.stage.style.aspectRatio = "";
  setMode(inst, "problem", "No photo: see the message below.",
          "The camera did not start: see the message below, then Try again.");
  inst.wait.textContent = problem.kind === "small"
    ? "Camera " + problem.width + "×" + problem.height + ": too small" : "Camera unavailable";
  inst.problemSent = true;
  inst.setStateValue("problem", problem);
}

function waitForSize(video) {
  return new Promise((resolve, reject) => {
    if (video.videoWidth > 0) return resolve();
    const done = () => { if (video.videoWidth > 0) { clear(); resolve(); } };
    const timeout = setTimeout(() => { clear(); reject({ name: "TimeoutError" }); }, 15000);
    const clear = () => { clearTimeout(timeout); video.removeEventListener("loadedmetadata", done);
                          video.removeEventListener("resize", done); };
    video.addEventListener("loadedmetadata", done);
    video.addEventListener("resize", done);
  });
}

function drawGuide(inst, w, h) {
  // In the video's own pixels, so the oval keeps its shape whatever the camera's aspect.
  inst.guide.setAttribute("viewBox", "0 0 " + w + " " + h);
  const cx = w / 2, cy = h * 0.38, ry = h * 0.24, rx = ry * 0.78;
  const oval = inst.guide.querySelector(".cam-oval");
  oval.setAttribute("cx", cx); oval.setAttribute("cy", cy);
  oval.setAttribute("rx", rx); oval.setAttribute("ry", ry);
  const ys = Math.min(h * 0.97, cy + ry + h * 0.12), yb = h * 0.99;
  const half = Math.min(w / 2 - 2, rx * 2.6);
  const pt = (x, y) => x.toFixed(1) + " " + y.toFixed(1);
  inst.guide.querySelector(".cam-shoulders").setAttribute("d",
    "M " + pt(cx - half, yb) + " Q " + pt(cx - half, ys) + " " + pt(cx - rx * 1.3, ys) +
    " L " + pt(cx + rx * 1.3, ys) + " Q " + pt(cx + half, ys) + " " + pt(cx + half, yb));
  inst.stage.style.aspectRatio = w + " / " + h;
}

async function start(inst) {
  stopCamera(inst);
  const gen = ++inst.gen;
  inst.shot = null;
  inst.wait.textContent = "Starting the camera…";
  setMode(inst, "starting", "Allow the camera if the browser asks.");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    report(inst, { kind: "unsupported", secure: !!globalThis.isSecureContext });
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(
      { video: { width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false });
  } catch (err) {
    if (gen === inst.gen) report(inst, { kind: problemKind(err), error: String(err && err.name),
                                         message: String((err && err.message) || "") });
    return;
  }
  if (gen !== inst.gen || inst.disposed) { for (const t of stream.getTracks()) t.stop(); return; }
  inst.stream = stream;
  inst.video.srcObject = stream;
  inst.video.play().catch(() => {});
  try { await waitForSize(inst.video); }
  catch (err) { if (gen === inst.gen) report(inst, { kind: "busy", error: "TimeoutError",
                                                     message: "The camera sent no picture." });
                return; }
  if (gen !== inst.gen) return;
  const w = inst.video.videoWidth, h = inst.video.videoHeight;
  const track = stream.getVideoTracks()[0];
  if (Math.min(w, h) < MIN_SIDE) {
    report(inst, { kind: "small", width: w, height: h, label: (track && track.label) || "" });
    return;
  }
  if (inst.problemSent) { inst.problemSent = false; inst.setStateValue("problem", null); }
  drawGuide(inst, w, h);
  setMode(inst, "live", "Camera " + w + "×" + h + " · face in the oval, shoulders on the line",
          "Camera on, " + w + "×" + h + ": face in the oval, shoulders on the line. " +
          "Take photo counts down " + COUNTDOWN_S + " seconds.");
}

function settingsOf(track) {
  const s = (track && track.getSettings) ? track.getSettings() : {};
  const out = {};
  for (const k of ["width", "height", "frameRate", "aspectRatio", "facingMode", "resizeMode"]) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  return out;
}

function capture(inst) {
  const video = inst.video;
  const w = video.videoWidth, h = video.videoHeight;
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  canvas.getContext("2d").drawImage(video, 0, 0, w, h);  // not mirrored: as the camera sees it
  const track = inst.stream && inst.stream.getVideoTracks()[0];
  inst.shot = { token: newToken(), data_url: canvas.toDataURL("image/jpeg", JPEG_QUALITY),
                width: w, height: h, settings: settingsOf(track),
                label: (track && track.label) || "", taken_at: Date.now() };
  stopCamera(inst);  // the camera light goes off while the person decides
  inst.still.src = inst.shot.data_url;
  inst.stage.style.aspectRatio = w + " / " + h;
  setMode(inst, "review", w + "×" + h + " · as the camera sees it (not mirrored)",
          "Photo taken, " + w + "×" + h + ". Use this photo, or Retake.");
}

function takePhoto(inst) {
  if (inst.mode !== "live") return;
  let left = COUNTDOWN_S;
  inst.count.textContent = String(left);
  setMode(inst, "countdown", "Hold still…", "Hold still: the photo is taken in " + left);
  inst.timer = setInterval(() => {
    left -= 1;
    if (left > 0) { inst.count.textContent = String(left); announce(inst, String(left)); return; }
    clearInterval(inst.timer); inst.timer = null;
    if (inst.mode === "countdown" && inst.video.videoWidth > 0) capture(inst);
  }, 1000);
}

function usePhoto(inst) {
  if (!inst.shot) return;
  setMode(inst, "used", inst.shot.width + "×" + inst.shot.height + " · this photo is used",
          "This photo is used: its checks follow on the page.");
  inst.setStateValue("photo", inst.shot);
}

function retake(inst) {
  const wasUsed = inst.mode === "used" || inst.mode === "held";
  inst.still.removeAttribute("src");
  if (wasUsed) inst.setStateValue("photo", null);
  start(inst);
}

function setup(parentElement) {
  const q = (id) => parentElement.querySelector('[data-testid="' + id + '"]');
  const inst = {
    root: q("cameraHeadshot"), label: q("cameraHeadshotLabel"), stage: q("cameraHeadshotStage"),
    video: q("cameraHeadshotVideo"), guide: q("cameraHeadshotGuide"),
    still: q("cameraHeadshotStill"), count: q("cameraHeadshotCountdown"),
    wait: q("cameraHeadshotWait"), status: q("cameraHeadshotStatus"),
    take: q("cameraHeadshotTake"), retake: q("cameraHeadshotRetake"), use: q("cameraHeadshotUse"),
    retry: q("cameraHeadshotRetry"), announcer: q("cameraHeadshotAnnounce"),
    mode: "starting", stream: null, timer: null, shot: null, refocus: false,
    gen: 0, disposed: false, problemSent: false, setStateValue: () => {},
  };
  const acting = (what) => () => { inst.refocus = true; what(inst); };
  inst.take.addEventListener("click", acting(takePhoto));
  inst.use.addEventListener("click", acting(usePhoto));
  inst.retake.addEventListener("click", acting(retake));
  inst.retry.addEventListener("click", acting(start));
  return inst;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const d = data || {};
  let inst = instances.get(parentElement);
  const fresh = !inst;
  if (fresh) {
    inst = setup(parentElement);
    instances.set(parentElement, inst);
  }
  inst.setStateValue = setStateValue;
  inst.label.textContent = d.label || "";
  if (inst.shot && inst.mode === "used" && d.received === inst.shot.token && !inst.shot.acked) {
    // Python holds the photo: keep only its token in the state, which every rerun resends.
    inst.shot.acked = true;
    const { token, width, height, taken_at } = inst.shot;
    inst.setStateValue("photo", { token, width, height, taken_at });
  }
  if (fresh) {
    if (d.held) {
      // Python already holds a photo from this widget (a remount): keep it until "Retake".
      inst.wait.textContent = "A photo taken earlier (" + d.held + ") is in use.";
      setMode(inst, "held", "", null);
    } else {
      start(inst);
    }
  }
  return () => {
    setTimeout(() => {
      if (!parentElement.isConnected) {
        inst.disposed = true; inst.gen++; stopCamera(inst); instances.delete(parentElement);
      }
    }, 0);
  };
}
"""

_component = st.components.v2.component("replica_studio_camera_headshot", html=_HTML, css=_CSS,
                                        js=_JS)


def shot_name(taken_at_ms: float | None, tz: tzinfo) -> str:
    """'Camera headshot, 30 Nov 10:24' in the viewer's clock (a readable replica name)."""
    when = (datetime.fromtimestamp(taken_at_ms / 1000, UTC) if taken_at_ms
            else datetime.now(UTC)).astimezone(tz)
    return f"Camera headshot, {when.day} {when:%b %H:%M}"


def shot_from_state(photo: Any, tz: tzinfo) -> CameraShot | None:
    """The component's `photo` state value as a CameraShot; None if absent or malformed."""
    if not isinstance(photo, dict):
        return None
    data_url = photo.get("data_url")
    if not isinstance(data_url, str) or not data_url.startswith(_DATA_URL_PREFIX):
        return None
    try:
        data = base64.b64decode(data_url[len(_DATA_URL_PREFIX):], validate=True)
        width, height = int(photo["width"]), int(photo["height"])
    except (binascii.Error, KeyError, TypeError, ValueError):
        log.warning("camera photo state could not be decoded")
        return None
    taken_at = photo.get("taken_at")
    return CameraShot(data=data, width=width, height=height,
                      name=shot_name(taken_at if isinstance(taken_at, int | float) else None, tz),
                      camera=str(photo.get("label") or ""))


def problem_message(problem: dict[str, Any]) -> str:
    """What went wrong with the camera, in words, and what to do instead."""
    kind = problem.get("kind")
    upload = "or choose **Upload** above and upload a photo instead"
    if kind == "small":
        w, h = problem.get("width"), problem.get("height")
        camera = f" ({escape_markdown(str(problem['label']))})" if problem.get("label") else ""
        return (f"This camera{camera} gives {w}×{h} px: less than the {MIN_SIDE} px Tavus needs "
                "on the photo's short side, so its headshot would be refused. Pick a camera "
                "with a higher resolution (the camera icon in the browser's address bar lists "
                f"them), then press *Try again*, {upload} (at least {MIN_SIDE}×{MIN_SIDE} px).")
    if kind == "denied":
        return ("The browser was not allowed to use the camera. Allow the camera for this site "
                "(the camera icon in the address bar, or the browser's site settings), then "
                f"press *Try again*, {upload}.")
    if kind == "none":
        return (f"No camera was found. Connect one and press *Try again*, {upload}.")
    if kind == "busy":
        return ("The camera could not start: another application may be using it. Close that "
                f"application and press *Try again*, {upload}.")
    if kind == "unsupported":
        return ("This browser cannot use a camera on this page (browsers allow cameras only on "
                "https:// or localhost addresses). Choose **Upload** and upload a photo instead.")
    error = escape_markdown(str(problem.get("error") or "unknown error"))
    return (f"The camera failed ({error}). Press *Try again*, "
            f"{upload}.")


def _state_value(key: str, name: str) -> Any:
    try:
        state = st.session_state.get(key)
    except Exception:
        return None
    return state.get(name) if hasattr(state, "get") else None


def _slot_name(key: str) -> str:
    return f"_camera_headshot:{key}"


def camera_headshot(key: str, *, label: str = "Take a headshot: face the camera, shoulders in "
                    "frame") -> CameraShot | None:
    """The camera widget; the photo the user chose to use, else None. Like a widget.

    The browser sends every widget's state with every rerun, so the photo's data URL would
    travel again on each click: once Python holds the photo (in a session slot, by its token), the
    run says so through `data.received`, and the page swaps the state for the token alone.
    """
    slot: dict[str, Any] | None = st.session_state.get(_slot_name(key))
    held: CameraShot | None = slot["shot"] if slot else None
    data = {"label": label, "received": slot["token"] if slot else None,
            "held": f"{held.width}×{held.height}" if held else None}
    # The state as the browser last sent it: a photo decoded now is acknowledged in this run.
    photo = _state_value(key, "photo")
    if isinstance(photo, dict) and photo.get("data_url") and photo.get("token") != data["received"]:
        shot = shot_from_state(photo, viewer_zone())
        if shot is not None:
            slot = {"token": photo.get("token"), "shot": shot}
            st.session_state[_slot_name(key)] = slot
            data.update(received=slot["token"], held=f"{shot.width}×{shot.height}")
    result = _component(key=key, data=data,
                        on_photo_change=lambda: None, on_problem_change=lambda: None)
    photo = result.get("photo")
    problem = result.get("problem")
    if isinstance(problem, dict) and photo is None:
        show = st.warning if problem.get("kind") == "small" else st.error
        show(problem_message(problem), icon=":material/no_photography:")
    if not isinstance(photo, dict):
        st.session_state.pop(_slot_name(key), None)  # "Retake", or never taken
        return None
    slot = st.session_state.get(_slot_name(key))
    if slot and slot["token"] == photo.get("token"):
        return slot["shot"]
    return shot_from_state(photo, viewer_zone())  # not acknowledged yet (a race)
