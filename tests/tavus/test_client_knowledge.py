"""The client's documents and persona writes, over HTTP against the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.personas.form import PersonaForm, create_body, patch_operations
from lib.tavus.client import (
    DocumentStatus,
    TavusClient,
    TavusError,
    conversation_body,
    document_status,
)
from lib.tavus.simulator import TavusSimulator
from tests.served import serving

KEY = "sk-client-knowledge-test"
TEXT = b"Opening hours: 9 to 5. Bikes are serviced on Tuesdays.\n"


@pytest.fixture(scope="module")
def doc_url() -> Iterator[str]:
    with serving(TEXT, "hours.txt") as url:
        yield url


@pytest.fixture
def sim() -> Iterator[TavusSimulator]:
    s = TavusSimulator(KEY, seed_demo_data=True, document_seconds=10).start()
    yield s
    s.stop()


@pytest.fixture
def tavus(sim: TavusSimulator) -> Iterator[TavusClient]:
    with TavusClient(sim.base_url, KEY, timeout=5.0, sleep=lambda s: None) as client:
        yield client


def ready_document(sim: TavusSimulator, tavus: TavusClient, url: str, name: str) -> str:
    made = tavus.create_document(document_url=url, document_name=name, tags=["hours"])
    assert made.state is DocumentStatus.STARTED
    assert sim.wait_for_downloads()
    sim.advance(11)
    assert tavus.get_document(made.document_id).state is DocumentStatus.READY
    return made.document_id


def test_document_status_is_one_mapping() -> None:
    assert document_status("Ready") is DocumentStatus.READY
    assert document_status("recrawling").still_changing
    assert document_status(None) is DocumentStatus.PROCESSING  # unknown: not finished
    assert not document_status("error").still_changing


def test_a_document_goes_from_started_to_ready_and_lists(sim, tavus, doc_url) -> None:
    did = ready_document(sim, tavus, doc_url, "Hours")
    listed, total = tavus.list_all_documents(page_size=1)
    assert total == 1 and [d.document_id for d in listed] == [did]
    assert listed[0].tags == ("hours",) and listed[0].document_name == "Hours"
    # Tavus numbers document pages from 0: page 0 is the first.
    assert [d.document_id for d in tavus.list_documents(page=0, limit=1).documents] == [did]


def test_all_pages_of_documents_are_read(sim, tavus, doc_url) -> None:
    made = {tavus.create_document(document_url=doc_url, document_name=f"D{i}").document_id
            for i in range(5)}
    listed, total = tavus.list_all_documents(page_size=2)
    assert total == 5 and {d.document_id for d in listed} == made


def test_update_and_delete_a_document(sim, tavus, doc_url) -> None:
    did = ready_document(sim, tavus, doc_url, "Hours")
    updated = tavus.update_document(did, document_name="Opening hours", tags=["shop"])
    assert (updated.document_name, updated.tags) == ("Opening hours", ("shop",))
    tavus.delete_document(did)
    with pytest.raises(TavusError) as gone:
        tavus.get_document(did)
    assert gone.value.status_code in (400, 404)


def test_a_document_without_url_is_refused_with_tavuss_words(tavus) -> None:
    with pytest.raises(TavusError, match="document_url"):
        tavus.create_document(document_url="")


def test_a_persona_is_created_read_patched_and_deleted(sim, tavus, doc_url) -> None:
    did = ready_document(sim, tavus, doc_url, "Hours")
    form = PersonaForm(persona_name="Shop assistant", system_prompt="Help with bikes.",
                       document_ids=(did,), perception_model="off").checked()
    made = tavus.create_persona(create_body(form))
    got = tavus.get_persona(made.persona_id)
    assert got.system_prompt == "Help with bikes." and got.document_ids == (did,)
    assert got.layers["perception"]["perception_model"] == "off"
    edited = PersonaForm(**{**form.__dict__, "system_prompt": "Help with e-bikes."})
    ops = patch_operations(got.raw, edited.checked())
    assert ops == [{"op": "replace", "path": "/system_prompt", "value": "Help with e-bikes."}]
    assert tavus.patch_persona(made.persona_id, ops) is True
    assert tavus.get_persona(made.persona_id).system_prompt == "Help with e-bikes."
    patches = [r for r in sim.requests if r.method == "PATCH"]
    assert len(patches) == 1
    ids = {p.persona_id for p in tavus.list_all_personas(persona_type="user")[0]}
    assert made.persona_id in ids
    tavus.delete_persona(made.persona_id)
    with pytest.raises(TavusError):
        tavus.get_persona(made.persona_id)


@pytest.mark.parametrize("status", [200, 304])
def test_a_patch_that_changes_nothing_is_no_change_not_an_error(status: int) -> None:
    sim = TavusSimulator(KEY, unchanged_patch_status=status).start()
    try:
        with TavusClient(sim.base_url, KEY, timeout=5.0) as tavus:
            made = tavus.create_persona({"persona_name": "Same", "system_prompt": "Same."})
            same = [{"op": "replace", "path": "/system_prompt", "value": "Same."}]
            # 304 says "no change" (False); a 200 cannot tell, and is success either way.
            assert tavus.patch_persona(made.persona_id, same) is (status == 200)
    finally:
        sim.stop()


def test_a_stock_persona_cannot_be_patched(tavus) -> None:
    stock = tavus.list_all_personas(persona_type="system")[0][0]
    with pytest.raises(TavusError) as refused:
        tavus.patch_persona(stock.persona_id, [{"op": "replace", "path": "/persona_name",
                                                 "value": "Mine"}])
    assert refused.value.status_code == 400


def test_a_conversation_takes_ready_documents_and_refuses_others(sim, tavus, doc_url) -> None:
    did = ready_document(sim, tavus, doc_url, "Hours")
    replica = next(r for r in tavus.list_all_replicas() if r.state.usable)
    call = tavus.create_conversation(replica_id=replica.replica_id, document_ids=(did,),
                                     document_retrieval_strategy="speed", test_mode=True)
    assert call.conversation_id
    posts = [r for r in sim.requests if r.method == "POST" and r.path == "/v2/conversations"]
    assert len(posts) == 1
    with pytest.raises(TavusError):
        tavus.create_conversation(replica_id=replica.replica_id, document_ids=("dmissing0000",),
                                  test_mode=True)


def test_the_conversation_body_is_what_is_sent() -> None:
    assert conversation_body(replica_id="r1", persona_id="p1", test_mode=True,
                             document_ids=("d1",)) == {
        "replica_id": "r1", "persona_id": "p1", "test_mode": True, "require_auth": False,
        "document_ids": ["d1"]}
