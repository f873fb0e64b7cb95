"""A file picker that uploads big videos from the browser straight to S3 (components v2, inline).

`st.file_uploader` would hold a whole clip in the server's memory; here Python only signs and
checks (lib/storage/uploads.py) and the page PUTs the bytes to presigned URLs.

The handshake, one rerun per step, all through the component's *state* values (they persist, so a
rerun caused by anything else cannot lose a step; each carries the `token` of one file choice, so a
stale value is recognised and ignored):

1. The user picks a file. JS sets `file = {token, name, size, type}` (never the bytes).
2. `on_file_change` (a callback, so it runs before the script) aborts any unfinished upload,
   validates the file and plans the upload; the run passes the plan's URLs to JS through `data`
   (`status: "uploading"`, same token).
3. JS sees its token in `data`, slices the File and PUTs the parts (3 in flight, each retried up to
   3 times with backoff), drawing the progress itself: no rerun per part.
4. JS sets `result = {token, status: "done", etags}` or `{token, status: "error", reason,
   http_status, message}`. `on_result_change` completes (and size-checks) or aborts the upload;
   the run passes `status: "done" | "error"` back to JS, and `video_uploader` returns the object.

"Cancel" and "Choose another file" set `file = null` (the upload is aborted); "Retry" sends the same
File again under a new token (a fresh plan, fresh URLs).
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lib.storage.s3 import ImageStore, StorageError
from lib.storage.uploads import (
    PART_BYTES,
    UploadPlan,
    abort_upload,
    complete_upload,
    format_bytes,
    plan_upload,
)
from lib.text import escape_markdown

log = logging.getLogger("replica_studio.ui.uploader")

# Browsers leave File.type empty for some containers (.mov on Linux, .m4v often): S3 should
# still store a video content type, so fall back on the extension.
_VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime",
                ".webm": "video/webm", ".mkv": "video/x-matroska"}


@dataclass(frozen=True)
class UploadedVideo:
    key: str
    filename: str
    size_bytes: int


# Keyboard and screen readers (WCAG 2.1 AA; tests/e2e/test_keyboard_journey.py): "Browse files"
# is a real button (Tab, Enter, Space) that opens the browser's file chooser through the hidden
# input; the group is named by the label, the button described by the label and the hint. The
# visible status is not a live region (its percentages would be read out every few hundred ms):
# a visually hidden one announces the steps instead (chosen, uploaded, failed). When the control
# that had focus is hidden (Browse once a file is chosen, Retry once pressed), focus moves to the
# control that takes its place. The ids are the component's own: each instance lives in a
# shadow root of its own.
_HTML = """
<div class="vu" data-testid="videoUploader" role="group" aria-labelledby="vu-label">
  <div class="vu-label" id="vu-label" data-testid="videoUploaderLabel"></div>
  <div class="vu-box">
    <div class="vu-pick" data-testid="videoUploaderPick">
      <input type="file" data-testid="videoUploaderInput" tabindex="-1" aria-hidden="true"
             hidden>
      <button type="button" class="vu-button" data-testid="videoUploaderBrowse"
              aria-describedby="vu-label vu-hint">Browse files</button>
      <span class="vu-hint" id="vu-hint" data-testid="videoUploaderHint"></span>
    </div>
    <div class="vu-file" data-testid="videoUploaderFile" hidden>
      <div class="vu-row">
        <span class="vu-name" data-testid="videoUploaderName"></span>
        <span class="vu-size" data-testid="videoUploaderSize"></span>
      </div>
      <div class="vu-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"
           aria-label="Upload progress" data-testid="videoUploaderBar">
        <div class="vu-fill"></div></div>
      <div class="vu-row">
        <span class="vu-status" data-testid="videoUploaderStatus"></span>
        <span class="vu-actions">
          <button type="button" class="vu-retry" data-testid="videoUploaderRetry"
                  hidden>Retry</button>
          <button type="button" class="vu-reset" data-testid="videoUploaderReset">Cancel</button>
        </span>
      </div>
    </div>
  </div>
  <div class="vu-sr" role="status" aria-live="polite" aria-atomic="true"
       data-testid="videoUploaderAnnounce"></div>
</div>
"""

_CSS = """
[hidden] { display: none !important; }
.vu { font-family: var(--st-font); color: var(--st-text-color); }
.vu-label { font-size: 0.875rem; margin-bottom: 0.25rem; }
.vu-box { border: 1px solid var(--st-border-color); border-radius: var(--st-base-radius);
          background: var(--st-secondary-background-color); padding: 0.75rem 1rem; }
.vu-pick { display: flex; gap: 1rem; align-items: center; }
.vu-hint, .vu-size, .vu-status { font-size: 0.8rem; opacity: 0.75; }
.vu-button, .vu-actions button {
  display: inline-block; cursor: pointer; font: inherit; font-size: 0.875rem;
  padding: 0.3rem 0.8rem; border-radius: var(--st-button-radius, var(--st-base-radius));
  border: 1px solid var(--st-border-color); background: var(--st-background-color);
  color: var(--st-text-color); }
.vu-button:hover, .vu-actions button:hover { border-color: var(--st-primary-color);
  color: var(--st-primary-color); }
.vu-button:focus-visible, .vu-actions button:focus-visible {
  outline: 2px solid var(--st-primary-color); outline-offset: 2px; }
.vu-button:disabled { opacity: 0.5; cursor: default; }
.vu-sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0;
         overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
.vu-row { display: flex; justify-content: space-between; align-items: center; gap: 1rem; }
.vu-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.vu-bar { height: 0.5rem; margin: 0.5rem 0; border-radius: 0.25rem; overflow: hidden;
          background: var(--st-border-color); }
.vu-fill { height: 100%; width: 0; background: var(--st-primary-color); transition: width .2s; }
.vu[data-state="error"] .vu-fill { background: var(--st-red-color); }
.vu[data-state="done"] .vu-fill { background: var(--st-green-color, var(--st-primary-color)); }
.vu-actions { display: flex; gap: 0.5rem; }
"""

# One module instance per page (Streamlit caches it by content), so per-component state lives in
# a WeakMap keyed by the component's root: the function is called again on every data change
# and must pick up an upload already under way instead of starting it twice.
_JS = """
const instances = new WeakMap();
const CONCURRENCY = 3;
const RETRIES = 3;          // after the first try: 4 tries per part at most
const BACKOFF_MS = 500;     // 0.5 s, 1 s, 2 s (plus jitter)

function newToken() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

function formatBytes(n) {
  for (const [unit, scale] of [["GB", 1e9], ["MB", 1e6], ["KB", 1e3]]) {
    if (n >= scale) return (n / scale).toFixed(1) + " " + unit;
  }
  return n + " bytes";
}

function retryable(status) {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

function putOnce(inst, url, body, contentType, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    inst.requests.add(xhr);
    xhr.open("PUT", url);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    const finish = (outcome) => { inst.requests.delete(xhr); resolve(outcome); };
    xhr.onload = () => finish({ status: xhr.status, etag: xhr.getResponseHeader("ETag") });
    xhr.onerror = () => finish({ status: 0, etag: null });
    xhr.ontimeout = () => finish({ status: 0, etag: null });
    xhr.onabort = () => finish({ status: -1, etag: null });
    xhr.send(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function putPart(inst, run, index, url, blob, contentType) {
  let last = { status: 0 };
  for (let attempt = 0; attempt <= RETRIES; attempt++) {
    if (run.stopped) return null;
    if (attempt > 0) await sleep(BACKOFF_MS * 2 ** (attempt - 1) * (1 + Math.random() * 0.2));
    if (run.stopped) return null;
    const outcome = await putOnce(inst, url, blob, contentType, (loaded) => {
      run.sent[index] = loaded; showProgress(inst, run);
    });
    if (outcome.status === -1 || run.stopped) return null;
    if (outcome.status >= 200 && outcome.status < 300) {
      if (!outcome.etag) {
        throw { reason: "etag", http_status: outcome.status,
                message: "The storage did not expose the ETag header." };
      }
      run.sent[index] = blob.size; showProgress(inst, run);
      return outcome.etag;
    }
    last = outcome;
    run.sent[index] = 0; showProgress(inst, run);
    if (!retryable(outcome.status)) break;
  }
  throw { reason: last.status === 0 ? "network" : "http", http_status: last.status,
          message: last.status === 0 ? "The browser could not reach the storage."
                                     : "The storage answered HTTP " + last.status + "." };
}

async function upload(inst, run) {
  const job = run.job;
  const file = run.file;
  const pieces = job.put_url
    ? [{ url: job.put_url, blob: file, type: job.content_type }]
    : job.part_urls.map((url, i) => ({
        url, blob: file.slice(i * job.part_bytes, (i + 1) * job.part_bytes), type: null }));
  run.total = file.size;
  run.sent = pieces.map(() => 0);
  const etags = new Array(pieces.length);
  let next = 0;
  const worker = async () => {
    while (next < pieces.length && !run.stopped) {
      const i = next++;
      etags[i] = await putPart(inst, run, i, pieces[i].url, pieces[i].blob, pieces[i].type);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, pieces.length) }, worker));
    if (run.stopped) return;
    run.finished = true;
    setStatus(inst, "Finishing…");
    inst.setStateValue("result", { token: run.token, status: "done", etags });
  } catch (err) {
    if (run.stopped) return;
    stopRun(inst);
    run.failed = true;
    inst.root.dataset.state = "error";
    setStatus(inst, "Upload failed: " + err.message);
    announce(inst, "Upload of " + run.file.name + " failed: " + err.message);
    inst.setStateValue("result", { token: run.token, status: "error", reason: err.reason,
                                   http_status: err.http_status, message: err.message });
  }
}

function stopRun(inst) {
  if (inst.run) inst.run.stopped = true;
  for (const xhr of [...inst.requests]) xhr.abort();
}

function showProgress(inst, run) {
  const sent = run.sent.reduce((a, b) => a + b, 0);
  // 100% only once S3 has confirmed every part: bytes handed to the network are not stored yet.
  const pct = run.total ? Math.min(99, Math.floor((sent / run.total) * 100)) : 0;
  inst.fill.style.width = pct + "%";
  inst.bar.setAttribute("aria-valuenow", String(pct));
  if (!run.finished && !run.failed) {
    setStatus(inst, "Uploading " + formatBytes(sent) + " of " + formatBytes(run.total) +
                    " · " + pct + "%");
  }
}

function setStatus(inst, text) { inst.status.textContent = text; }

// A step said once by screen readers (the live region), not every progress tick.
function announce(inst, text) {
  if (inst.announced === text) return;
  inst.announced = text;
  inst.announcer.textContent = text;
}

// The element focused inside this uploader (its shadow root's, or the document's), or null.
function focusedIn(inst) {
  const active = inst.root.getRootNode().activeElement;
  return active && inst.root.contains(active) ? active : null;
}

function choose(inst, file) {
  stopRun(inst);
  announce(inst, "Uploading " + file.name + ", " + formatBytes(file.size) + "…");
  inst.file = file;
  inst.token = newToken();
  inst.run = null;
  inst.setStateValue("file", { token: inst.token, name: file.name, size: file.size,
                               type: file.type || "" });
}

function reset(inst) {
  stopRun(inst);
  inst.file = null;
  inst.token = null;
  inst.run = null;
  inst.input.value = "";
  announce(inst, "");
  inst.setStateValue("file", null);
}

function setup(parentElement) {
  const q = (id) => parentElement.querySelector('[data-testid="' + id + '"]');
  const inst = {
    root: q("videoUploader"), label: q("videoUploaderLabel"), input: q("videoUploaderInput"),
    hint: q("videoUploaderHint"), pick: q("videoUploaderPick"), fileBox: q("videoUploaderFile"),
    name: q("videoUploaderName"),
    size: q("videoUploaderSize"), bar: q("videoUploaderBar"), status: q("videoUploaderStatus"),
    retry: q("videoUploaderRetry"), resetButton: q("videoUploaderReset"),
    browse: q("videoUploaderBrowse"), announcer: q("videoUploaderAnnounce"), announced: "",
    file: null, token: null, run: null, requests: new Set(), setStateValue: () => {},
  };
  inst.browse.addEventListener("click", () => inst.input.click());
  inst.fill = inst.bar.firstElementChild;
  inst.input.addEventListener("change", () => {
    if (inst.input.files && inst.input.files[0]) choose(inst, inst.input.files[0]);
  });
  inst.resetButton.addEventListener("click", () => reset(inst));
  inst.retry.addEventListener("click", () => { if (inst.file) choose(inst, inst.file); });
  // The bytes are the browser's: a reload or a closed tab stops the upload, so while parts are
  // on their way the browser asks first ("Leave site?").
  window.addEventListener("beforeunload", (event) => {
    if (inst.requests.size > 0 && parentElement.isConnected) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  return inst;
}

function render(inst, data) {
  const focused = focusedIn(inst);
  inst.label.textContent = data.label || "";
  inst.input.accept = data.accept || "";
  inst.hint.textContent = data.hint || "";
  const mine = inst.token && data.token === inst.token;
  let state;
  if (mine) state = data.status;                       // Python has answered this choice
  else if (inst.file) state = "planning";              // chosen, Python not yet answered
  else if (data.status === "done" || data.status === "error") state = data.status;
  else state = "idle";

  if (data.status === "uploading" && !inst.file && data.token) {
    // Python has an upload under way that this page cannot continue (a reload, a remount):
    // say so and let Python abort it.
    inst.setStateValue("file", null);
    state = "idle";
  }
  inst.root.dataset.state = state;
  inst.fileBox.hidden = state === "idle";
  inst.pick.hidden = state !== "idle";  // the file box's buttons take over until a reset
  inst.input.disabled = state === "planning" || state === "uploading";
  inst.browse.disabled = inst.input.disabled;
  const shown = inst.file ? { name: inst.file.name, size: inst.file.size } : data.done;
  if (shown) {
    inst.name.textContent = shown.name;
    inst.size.textContent = formatBytes(shown.size);
  }
  inst.retry.hidden = !(state === "error" && inst.file);
  inst.resetButton.textContent = state === "done" || state === "error"
    ? "Choose another file" : "Cancel";
  inst.bar.setAttribute("aria-label", shown ? "Upload progress of " + shown.name
                                            : "Upload progress");
  if (focused && focused.closest("[hidden]")) {
    // The control in use went away (Browse once a file is chosen, Retry once pressed, Cancel
    // once the picker is back): the one that takes its place gets the focus.
    const next = [inst.retry, inst.resetButton, inst.browse].find((b) => !b.closest("[hidden]"));
    if (next) next.focus();
  }

  if (state === "planning") {
    inst.fill.style.width = "0%";
    setStatus(inst, "Preparing the upload…");
  } else if (state === "uploading") {
    if (!inst.run || inst.run.token !== inst.token) {
      inst.run = { token: inst.token, file: inst.file, job: data.job, stopped: false,
                   finished: false, failed: false, sent: [], total: inst.file.size };
      showProgress(inst, inst.run);
      upload(inst, inst.run);
    }
  } else if (state === "done") {
    inst.fill.style.width = "100%";
    inst.bar.setAttribute("aria-valuenow", "100");
    setStatus(inst, "Uploaded ✓");
    if (shown) announce(inst, "Uploaded ✓ " + shown.name);
  } else if (state === "error") {
    setStatus(inst, data.short_message || "Upload failed.");
    announce(inst, (shown ? shown.name + ": " : "") + (data.short_message || "Upload failed."));
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let inst = instances.get(parentElement);
  if (!inst) {
    inst = setup(parentElement);
    instances.set(parentElement, inst);
  }
  inst.setStateValue = setStateValue;  // the newest one: it carries the current form/fragment
  render(inst, data || {});
  return () => {
    // Streamlit calls this when the component leaves the page (and, in a race, for an older
    // render): only stop uploads once the root is really gone.
    setTimeout(() => {
      if (!parentElement.isConnected) { stopRun(inst); instances.delete(parentElement); }
    }, 0);
  };
}
"""

_component = st.components.v2.component("replica_studio_video_uploader", html=_HTML, css=_CSS,
                                        js=_JS)


def _slot_name(key: str) -> str:
    return f"_video_uploader:{key}"


def _slot(key: str) -> dict[str, Any]:
    """What Python knows of this uploader's current file choice (never the file's bytes)."""
    return st.session_state.setdefault(_slot_name(key), {"status": "idle", "token": None})


def _set_slot(key: str, **values: Any) -> None:
    st.session_state[_slot_name(key)] = {"status": "idle", "token": None, **values}


def _component_value(key: str, name: str) -> Any:
    state = st.session_state.get(key)
    return state.get(name) if state is not None else None


def _abort_quietly(store: ImageStore, plan: UploadPlan | None) -> None:
    if plan is None:
        return
    try:
        abort_upload(store, plan)
    except StorageError as exc:  # the stale-upload sweep catches what this misses
        log.warning("could not abort upload %s: %s", plan.key, exc.message)


def content_type_for(name: str, browser_type: str) -> str:
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if browser_type.startswith("video/"):
        return browser_type
    return _VIDEO_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _on_file(key: str, store: ImageStore, accept: Sequence[str], max_bytes: int,
             part_bytes: int, prefix: str, noun: str) -> None:
    slot = _slot(key)
    if slot["status"] == "uploading":
        _abort_quietly(store, slot.get("plan"))
    chosen = _component_value(key, "file")
    if not chosen:
        _set_slot(key)
        return
    token, name, size = str(chosen.get("token")), str(chosen.get("name")), chosen.get("size")
    extensions = [a.lower() for a in accept]
    if extensions and not name.lower().endswith(tuple(extensions)):
        _set_slot(key, status="error", token=token, filename=name,
                  message=f"{name} is not a {', '.join(accept)} file. Choose a {noun} file.")
        return
    if not isinstance(size, int):
        _set_slot(key, status="error", token=token, filename=name,
                  message="The browser did not report the file's size. Choose it again.")
        return
    try:
        plan = plan_upload(store, name, size, content_type_for(name, str(chosen.get("type"))),
                           prefix=prefix, max_bytes=max_bytes, part_bytes=part_bytes, noun=noun)
    except StorageError as exc:
        _set_slot(key, status="error", token=token, filename=name, message=exc.message)
        return
    _set_slot(key, status="uploading", token=token, filename=name, plan=plan)


def _failure_message(name: str, result: dict[str, Any]) -> str:
    reason, status = result.get("reason"), result.get("http_status")
    if reason == "network":
        return (f"The browser could not send {name} to the storage. Either the network dropped, "
                "or the bucket's CORS rule does not allow uploads from this app (it must allow "
                "PUT from this site's address and expose the ETag header). Check the connection "
                "and the bucket's CORS rule, then press Retry.")
    if reason == "etag":
        return (f"{name} reached the storage, but the browser may not read the ETag header, so the "
                "upload cannot be completed. Add ETag to ExposeHeaders in the bucket's CORS rule, "
                "then press Retry.")
    if status == 403:
        return (f"The storage refused {name} (HTTP 403): the upload links expired or the app's "
                "credentials may not write to the bucket. Press Retry for fresh links; if it "
                "persists, check the S3 credentials.")
    return (f"The storage kept failing while receiving {name} (HTTP {status}, 4 tries per part). "
            "Press Retry; if it keeps failing, try again later.")


def _on_result(key: str, store: ImageStore) -> None:
    slot = _slot(key)
    result = _component_value(key, "result") or {}
    if slot["status"] != "uploading" or result.get("token") != slot["token"]:
        return  # an answer about an earlier choice (already cancelled or replaced)
    plan: UploadPlan = slot["plan"]
    name = slot["filename"]
    if result.get("status") == "done":
        try:
            # A missing ETag becomes "": complete_upload then refuses (and aborts) the upload.
            etags = [e if isinstance(e, str) else "" for e in result.get("etags") or []]
            stored = complete_upload(store, plan, etags)
        except StorageError as exc:
            _set_slot(key, status="error", token=slot["token"], filename=name,
                      message=exc.message)
            return
        _set_slot(key, status="done", token=slot["token"], filename=name,
                  uploaded=UploadedVideo(key=stored.key, filename=name,
                                         size_bytes=stored.size_bytes))
        return
    _abort_quietly(store, plan)
    log.warning("browser upload failed: %s %s", result.get("reason"), result.get("http_status"))
    _set_slot(key, status="error", token=slot["token"], filename=name,
              message=_failure_message(name, result))


def video_uploader(key: str, *, store: ImageStore, accept: Sequence[str], max_bytes: int,
                   label: str, part_bytes: int = PART_BYTES, prefix: str = "videos/",
                   noun: str = "video") -> UploadedVideo | None:
    """A file picker whose file goes from the browser straight to S3; like a widget.

    Returns the stored object once the upload is complete and verified (and on every rerun after,
    until the user chooses another file), else None. `noun` names the kind of file in messages
    (the knowledge base sends documents this way too). A failure shows an error saying what to do.
    """
    slot = _slot(key)
    data: dict[str, Any] = {
        "label": label,
        "accept": ",".join(accept),
        "hint": f"{', '.join(a.lstrip('.').upper() for a in accept)} · up to "
                f"{format_bytes(max_bytes)}",
        "status": slot["status"],
        "token": slot["token"],
    }
    if slot["status"] == "uploading":
        plan: UploadPlan = slot["plan"]
        # The URLs are the only thing from S3 the page gets: no credential, 1 h of life.
        data["job"] = {"put_url": plan.put_url, "part_urls": plan.part_urls,
                       "part_bytes": plan.part_bytes, "content_type": plan.content_type}
    elif slot["status"] == "done":
        uploaded: UploadedVideo = slot["uploaded"]
        data["done"] = {"name": uploaded.filename, "size": uploaded.size_bytes}
    elif slot["status"] == "error":
        data["short_message"] = "Upload failed: see the message below."
    _component(
        key=key, data=data,
        on_file_change=lambda: _on_file(key, store, accept, max_bytes, part_bytes, prefix,
                                        noun),
        on_result_change=lambda: _on_result(key, store),
    )
    if slot["status"] == "error":
        st.error(escape_markdown(slot["message"]), icon=":material/error:")
    return slot.get("uploaded") if slot["status"] == "done" else None
