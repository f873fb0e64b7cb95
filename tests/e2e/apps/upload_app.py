"""A tiny app for the uploader's browser test: demo mode's local S3 (with its CORS rule) and one
`video_uploader`. Run by tests/e2e/test_upload_journey.py with `streamlit run`."""

from __future__ import annotations

import os

import streamlit as st

from lib.demo import start_demo_services
from lib.storage.s3 import ImageStore
from lib.storage.uploads import PART_BYTES
from lib.ui.uploader import video_uploader


@st.cache_resource
def store() -> ImageStore:
    demo = start_demo_services(training_seconds=60,
                               simulator_port=int(os.environ.get("SIMULATOR_PORT", "0")),
                               s3_port=int(os.environ.get("DEMO_S3_PORT", "0")))
    return ImageStore(demo.s3)


st.title("Upload a training video")
uploaded = video_uploader(
    "clip", store=store(), accept=[".mp4", ".mov", ".m4v", ".webm"],
    max_bytes=int(os.environ.get("UPLOAD_MAX_BYTES", str(500 * 10**6))),
    label="Training video",
    # The test shrinks parts to S3's 5 MiB minimum so that a ~12 MB file takes three.
    part_bytes=int(os.environ.get("UPLOAD_PART_BYTES", str(PART_BYTES))))
with st.container(key="upload-result"):
    if uploaded:
        st.success(f"Stored `{uploaded.key}` ({uploaded.size_bytes} bytes) from "
                   f"{uploaded.filename}.")
    else:
        st.caption("Nothing uploaded yet.")
# A rerun while the upload runs must not disturb it.
st.button("Rerun", key="rerun")
