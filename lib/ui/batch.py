"""Several photos at once, as the Create page shows them: upload, review table, Create all.

`several_photos(frame)` draws the whole flow; the Create page calls it for its "Several photos"
source. The rows live in the session (keyed by the uploaded bytes' digest) and their attempts by
the photo's fingerprint, so a rerun, a double click or an interrupted run never creates twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import streamlit as st

from lib.replicas.batch import BatchRow, check_all, recover_interrupted, start_all, summary
from lib.replicas.create import MAX_NAME_LENGTH, ReplicaForm, replica_name_for, settle_ledger
from lib.tavus.client import MODELS
from lib.text import escape_markdown
from lib.ui import actions, cached, live, shell

SAME_VOICE = "Same as all"
VERDICT = {"ready": ":green[:material/check_circle: Ready]",
           "fixable": ":orange[:material/crop: Fixable]",
           "likely_fail": ":red[:material/cancel: Will likely fail]",
           "unusable": ":red[:material/image_not_supported: Not a usable photo]"}
STATUS = {"ready": "Ready to create", "blocked": "Left out", "creating": "Creating…",
          "created": "Created", "failed": "Failed", "checking": "Checking…"}
# What a photo uploader takes (both on Create): HEIC/HEIF from iPhones and Macs is converted
# (lib/photos/intake.py), and a file of another type is refused by the browser.
PHOTO_TYPES = ["png", "jpg", "jpeg", "webp", "heic", "heif"]
STEPS = {"uploading": "uploading the photo", "signing": "signing the training URL",
         "creating": "asking Tavus to train", "recording": "saving the team record"}


def _state() -> tuple[dict[str, BatchRow], dict]:
    state = st.session_state
    return state.setdefault("batch_rows", {}), state.setdefault("batch_attempts", {})


def _analyse(data: bytes, filename: str):
    # Imported here: OpenCV loads only where photos are checked.
    from lib.photos.analysis import analyse_photo

    return analyse_photo(data, filename)


def _rows_for(files) -> list[BatchRow]:
    """The rows for the uploaded files, in order: new files checked (in parallel), known ones
    kept as they are; one row per photo even if it was uploaded twice."""
    rows, attempts = _state()
    keyed = [(hashlib.sha256(f.getvalue()).hexdigest(), f) for f in files]
    new = [(key, f) for key, f in keyed if key not in rows]
    if new:
        with st.spinner(f"Checking {len(new)} photo{'s' if len(new) != 1 else ''}…"):
            checked = check_all([(f.name, f.getvalue()) for _, f in new], _analyse)
        for (key, _), row in zip(new, checked, strict=True):
            kept = attempts.get(row.fingerprint) if row.fingerprint else None
            if kept is not None:
                row.attempt = kept
                if kept.replica_id:
                    row.status = "created"
            rows[key] = row
    shown, seen = [], set()
    for key, _ in keyed:
        row = rows[key]
        ident = row.fingerprint or key
        if ident not in seen:
            seen.add(ident)
            shown.append(row)
    return shown


def _thumbnail(row: BatchRow) -> bytes | None:
    if row.analysis is None:
        return None
    return row.analysis.overlay or (row.analysis.prepared.data if row.analysis.prepared else None)


def _progress_line(row: BatchRow) -> str:
    if row.status == "creating":
        return f"Creating… {STEPS.get(row.step, '')}".rstrip()
    if row.status == "failed":
        return f":red[Failed: {escape_markdown(row.error or '')}] Retried by the next click."
    if row.status == "created":
        return f":green[Created: `{row.replica_id}`]"
    return STATUS[row.status]


def _review_row(i: int, row: BatchRow, voice_names: list[str],
                fix_framing: Callable[[BatchRow], None] | None) -> None:
    with st.container(border=True, key=f"batch-row-{i}"):
        pic, verdict, name, voice, pick = st.columns([1, 3, 2, 2, 1], vertical_alignment="center")
        thumb = _thumbnail(row)
        if thumb:
            pic.image(thumb, width=96, alt=f"Thumbnail of {row.filename}")
        verdict.markdown(f"**{escape_markdown(row.filename)}**  \n{VERDICT[row.verdict]}: "
                         f"{escape_markdown(row.reason)}")
        fixable = row.verdict == "fixable" and row.status == "blocked"
        if fixable and fix_framing is not None:
            # The framing work plugs in here: it fixes the row's photo, then hands the result to
            # lib.replicas.batch.replace_photo(row, analysis), which checks the row again.
            verdict.button("Fix framing", key=f"batch-fix-{i}", icon=":material/crop:",
                           on_click=fix_framing, args=(row,))
        locked = row.status in ("creating", "created") or row.analysis.prepared is None
        typed = name.text_input("Name", value=row.name, max_chars=MAX_NAME_LENGTH,
                                key=f"batch-name-{i}", disabled=locked,
                                label_visibility="collapsed")
        if not locked:
            row.name = replica_name_for(typed, row.filename)
        options = [SAME_VOICE, *voice_names]
        picked = voice.selectbox("Voice", options, key=f"batch-voice-{i}", disabled=locked,
                                 label_visibility="collapsed",
                                 index=options.index(row.voice_name)
                                 if row.voice_name in options else 0)
        if not locked:
            row.voice_name = None if picked == SAME_VOICE else picked
        if row.status in ("ready", "failed"):
            row.chosen = pick.checkbox("Create", value=row.chosen, key=f"batch-pick-{i}")
        st.markdown(_progress_line(row), help=None)


def several_photos(frame: shell.Frame, *,
                   fix_framing: Callable[[BatchRow], None] | None = None) -> None:
    """The batch flow: upload several photos, review them, create all ready ones."""
    state = st.session_state
    state.setdefault("batch_round", 0)
    files = st.file_uploader("Headshots (PNG, JPEG, WebP or HEIC, at least 512×512 each)",
                             type=PHOTO_TYPES, accept_multiple_files=True,
                             key=f"batch-upload-{state.batch_round}")
    if not files:
        st.caption("Choose several photos: each is checked, then one click creates a replica "
                   "for every ready one.")
        return
    rows = _rows_for(files)
    # Rows under way as this run begins (a click's callback has claimed them by now): when they
    # end, even during this run, the page is drawn again once (the rows above are drawn first).
    under_way = [r for r in rows if r.status == "creating"]

    voice_list, voice_warning = cached.voices(frame)
    if voice_warning:
        st.warning(escape_markdown(voice_warning), icon=":material/record_voice_over:")
    voice_names = [v.voice_name for v in voice_list]
    voice_col, model_col, fix_col = st.columns(3, vertical_alignment="bottom")
    # Read by key when Create all is pressed (its callback: see below).
    voice_col.selectbox("Voice for all", voice_names, key="batch_voice")
    model_col.selectbox("Model", MODELS, key="batch_model")
    fix_col.toggle("Let Tavus auto-fix the photos", value=True, key="batch_auto_fix")

    for i, row in enumerate(rows):
        if row.attempt is not None:
            settle_ledger(row.attempt)
        _review_row(i, row, voice_names, fix_framing)

    recover_interrupted(rows)  # a row no worker holds is never left "creating"
    counts = summary(rows)
    to_run = [r for r in rows if r.chosen and (
        r.status in ("ready", "failed")
        or (r.status == "created" and r.attempt is not None and r.attempt.ledger_error))]
    st.caption(" · ".join(f"{n} {STATUS[s].lower().rstrip('…')}" for s, n in counts.items()))
    # The button claims the rows in its callback, the first thing the click's run does (a
    # click elsewhere or another page 0.3 s later cannot come first): the rows take the choices
    # as the click found them, and go to the server's workers (lib/ui/actions.py).
    _, attempts = _state()
    tavus, store, ttl = frame.services.tavus, frame.services.store, frame.settings.presign_ttl_hours
    created_by, ledger = shell.current_user_email(), cached.team_ledger(frame)
    reload_lists = live.reload_after(frame)
    batch_action = actions.ref("batch")  # the server's board, and this session's key prefix
    claimed: list[BatchRow] = []

    def claim() -> None:
        state = st.session_state
        _apply_choices(rows)
        voice, model, auto_fix = state["batch_voice"], state["batch_model"], state["batch_auto_fix"]

        def form_for(row: BatchRow) -> ReplicaForm:
            return ReplicaForm(replica_name=row.name, voice_name=row.voice_name or voice,
                               model_name=model, auto_fix_training_image=auto_fix)

        claimed.extend(start_all(
            rows, board=batch_action.board,
            key_for=lambda row: f"{batch_action.key}{row.fingerprint}", tavus=tavus,
            store=store, form_for=form_for, ttl_hours=ttl, created_by=created_by,
            ledger=ledger, attempts=attempts, on_end=reload_lists))

    actions.button(st, f"Create all ready ones ({len(to_run)})", type="primary",
                   icon=":material/bolt:", disabled=not to_run, key="batch_create",
                   action=batch_action, build=claim)
    creating = under_way or [r for r in rows if r.status == "creating"]
    if creating:
        # The rows finish in the workers whatever this page does; this only shows them.
        actions.wait_for(lambda: any(r.status == "creating" for r in creating),
                         lambda: _progress(creating), started_here=True)
    _results(rows)


def _apply_choices(rows: list[BatchRow]) -> None:
    """Each row's name, voice and tick as the widgets hold them now (the button's callback runs
    before the rows are drawn again, so it reads them by key as `_review_row` would)."""
    state = st.session_state
    for i, row in enumerate(rows):
        locked = row.status in ("creating", "created") or row.analysis is None \
            or row.analysis.prepared is None
        if locked:
            continue
        typed = state.get(f"batch-name-{i}")
        if typed is not None:
            row.name = replica_name_for(typed, row.filename)
        picked = state.get(f"batch-voice-{i}")
        if picked is not None:
            row.voice_name = None if picked == SAME_VOICE else picked
        if row.status in ("ready", "failed"):
            ticked = state.get(f"batch-pick-{i}")
            if ticked is not None:
                row.chosen = bool(ticked)


def _progress(rows: list[BatchRow]) -> None:
    with st.container(key="batch-progress"):
        busy = sum(r.status == "creating" for r in rows)
        if busy:
            st.caption(f":material/hourglass_top: Creating {busy} replica"
                       f"{'s' if busy != 1 else ''}…")
        for row in rows:
            st.markdown(f"**{escape_markdown(row.name)}**: {_progress_line(row)}")


def _results(rows: list[BatchRow]) -> None:
    created = [r for r in rows if r.status == "created" and r.replica_id]
    if not created:
        return
    live.saw_created([r.replica_id for r in created])
    with st.container(key="batch-results"):
        st.success(f"Training started for {len(created)} replica"
                   f"{'s' if len(created) != 1 else ''}.", icon=":material/check:")
        for row in created:
            st.page_link(str(shell.APP_DIR / "pages/replicas.py"),
                         label=f"{row.name} · {row.replica_id}", icon=":material/table_view:",
                         query_params={"replica": row.replica_id})
            if row.attempt is not None and row.attempt.ledger_error:
                st.warning(f"{escape_markdown(row.name)}: the team record could not be saved "
                           f"({escape_markdown(row.attempt.ledger_error)}). Create all retries it.",
                           icon=":material/cloud_off:")
        st.button("Start another batch", key="batch_again", icon=":material/add:",
                  on_click=_reset)


def _reset() -> None:
    state = st.session_state
    state.batch_round = state.get("batch_round", 0) + 1
    state.pop("batch_rows", None)  # the attempts stay: the same photo again is not sent again
