"""A document's status column and Tavus's error codes in plain words: the codes as the simulator
really reports them over HTTP (an empty file, a missing one, a ZIP), and every code it can
report has an explanation with a fix."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib.knowledge.status import DOCUMENT_ERRORS, explain_error, status_text
from lib.tavus.client import Document, DocumentStatus, TavusClient
from lib.tavus.simulator import TavusSimulator, documents
from tests.knowledge.documents import minimal_pdf

KEY = "sk-document-status-test"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("files")
    (root / "hours.pdf").write_bytes(minimal_pdf())
    (root / "empty.txt").write_bytes(b"")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "just a zip")
    (root / "archive.zip").write_bytes(buffer.getvalue())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    s = TavusSimulator(KEY, seed_demo_data=False, document_seconds=10).start()
    yield s
    s.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    with TavusClient(sim.base_url, KEY, timeout=5.0, sleep=lambda s: None) as client:
        yield client


def test_the_status_column_follows_a_document_from_queued_to_ready(sim, tavus, files) -> None:
    made = tavus.create_document(document_url=f"{files}/hours.pdf", document_name="Hours")
    assert status_text(made) == "started"
    assert sim.wait_for_downloads()
    sim.advance(5)  # half way through the simulated processing
    busy = tavus.get_document(made.document_id)
    assert busy.state is DocumentStatus.PROCESSING and busy.progress is not None
    assert status_text(busy) == f"processing {busy.progress} %"
    sim.advance(10)
    assert status_text(tavus.get_document(made.document_id)) == "ready"


@pytest.mark.parametrize(("name", "code"), [
    ("empty.txt", "file_empty"),
    ("missing.pdf", "file_download_failed"),
    ("archive.zip", "file_format_unsupported"),
])
def test_a_failed_document_shows_tavus_code_and_its_explanation(sim, tavus, files, name: str,
                                                                code: str) -> None:
    made = tavus.create_document(document_url=f"{files}/{name}", document_name=name)
    assert sim.wait_for_downloads()
    failed = tavus.get_document(made.document_id)

    assert failed.state is DocumentStatus.ERROR and failed.error_message == code
    assert status_text(failed) == f"error: {code}"
    explained = explain_error(failed.error_message)
    assert explained is DOCUMENT_ERRORS[code] and explained.code == code
    assert explained.what and explained.fix


def test_every_code_the_simulator_reports_is_explained() -> None:
    codes = {value for name, value in vars(documents).items()
             if name.isupper() and isinstance(value, str) and value.islower()
             and "_" in value and not value.startswith(("text/", "."))}
    assert "file_empty" in codes and "website_processing_failed" in codes
    assert codes <= set(DOCUMENT_ERRORS)
    for code, explained in DOCUMENT_ERRORS.items():
        assert explained.code == code
        assert explained.what.endswith(".") and explained.fix.endswith(".")
        assert "Tavus reported" not in explained.what  # that is the unknown code's wording


@pytest.mark.parametrize("code", ["quota_exceeded_v9", None, ""])
def test_an_unknown_or_missing_code_is_shown_as_it_came(code: str | None) -> None:
    explained = explain_error(code)
    assert explained.code == (code or "unknown")
    assert explained.what == f"Tavus reported: {code or 'no reason given'}."
    assert "contact Tavus support" in explained.fix


def test_status_text_for_states_the_simulator_does_not_reach_here() -> None:
    assert status_text(Document("d1", status="error")) == "error: unknown"
    assert status_text(Document("d1", status="processing")) == "processing"  # no progress yet
    assert status_text(Document("d1", status="Ready")) == "ready"
    assert status_text(Document("d1", status="someday")) == "processing"  # unknown: not done
