"""The Streamlit internals the table's server push relies on (lib/ui/live.py: `follow`,
`_push_to`, `_run_token`). Streamlit has no public API to rerun another session's fragment; the
version is pinned, and these fail first if an upgrade moves any of them. Without them the table
would still refresh, on its fallback timer every 4 intervals, and the log would say why."""

from __future__ import annotations

import inspect

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime import Runtime
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.runtime import AsyncObjects
from streamlit.runtime.scriptrunner_utils.script_run_context import (
    FragmentThreadState,
    ScriptRunContext,
)


def test_a_session_can_be_found_and_asked_to_rerun_one_fragment() -> None:
    assert list(inspect.signature(Runtime.get_app_session).parameters) == ["self", "session_id"]
    assert list(inspect.signature(AppSession.request_rerun).parameters) == ["self",
                                                                            "client_state"]
    # The state of the session's last run: its page and query string are read before pushing.
    assert "self._client_state" in inspect.getsource(AppSession)
    # The push is handed to the runtime's event loop.
    assert callable(Runtime._get_async_objs)
    assert "eventloop" in AsyncObjects._fields


def test_a_client_state_names_a_fragment_a_page_and_the_tab_context() -> None:
    state = ClientState(fragment_id="f", page_script_hash="p", query_string="a=1",
                        is_auto_rerun=True)
    assert (state.fragment_id, state.page_script_hash, state.query_string) == ("f", "p", "a=1")
    assert state.is_auto_rerun
    assert not state.HasField("context_info")  # copied from the session's last run when set
    state.context_info.timezone = "America/Los_Angeles"
    assert state.HasField("context_info")


def test_a_run_knows_its_fragment_and_has_a_per_run_coordinator() -> None:
    assert FragmentThreadState().fragment_id is None  # set while a fragment runs
    # `_run_token` tells runs apart by this object, made afresh for each run.
    assert "parallel_coordinator" in inspect.getsource(ScriptRunContext)
