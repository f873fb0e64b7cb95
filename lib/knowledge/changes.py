"""A document's changes once it is in the knowledge base, as work for the server's action board:
rename and retag, recrawl, delete.

The values are checked at the click (a name, the tags' limits: the same as when adding); Tavus's
refusals that have a plain meaning are said in plain words with what to do: a document someone
else deleted meanwhile, a recrawl within Tavus's hour of cooldown, a recrawl while it is still
processing. Plain Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lib.actions.board import Action
from lib.knowledge.add import clean_tags
from lib.knowledge.intake import DocumentRefused
from lib.knowledge.records import DocumentRecords
from lib.tavus.client import Document, TavusClient, TavusError

__all__ = ["delete_document_work", "recrawl_work", "save_document_work"]


def _gone(error: TavusError) -> bool:
    return error.status_code in (404, 410)


def _gone_refusal(what: str) -> DocumentRefused:
    return DocumentRefused(f"This document no longer exists at Tavus (someone deleted it), so "
                           f"{what}. The table drops it at its next refresh.")


def save_document_work(tavus: TavusClient, document_id: str, *, name: str, tags: Sequence[str],
                       after: Callable[[], None] = lambda: None
                       ) -> Callable[[Action], Document]:
    """Rename and retag (the tags replace the document's); raises DocumentRefused at the click
    for an empty name or tags over the limits."""
    document_name = " ".join(str(name).split())
    if not document_name:
        raise DocumentRefused("Give the document a name, then press Save name and tags.")
    chosen = clean_tags(tags)

    def work(action: Action) -> Document:
        action.report(step="saving")
        try:
            result = tavus.update_document(document_id, document_name=document_name,
                                           tags=list(chosen))
        except TavusError as error:
            if _gone(error):
                raise _gone_refusal("nothing was saved") from error
            raise
        after()
        return result

    return work


def recrawl_work(tavus: TavusClient, document_id: str, *,
                 after: Callable[[], None] = lambda: None) -> Callable[[Action], str]:
    """Ask Tavus to fetch a crawled website again."""

    def work(action: Action) -> str:
        action.report(step="recrawling")
        try:
            tavus.recrawl_document(document_id)
        except TavusError as error:
            said = error.message.rstrip(".")
            if _gone(error):
                raise _gone_refusal("it cannot be recrawled") from error
            if error.status_code == 429 and "cooldown" in said.lower():
                raise DocumentRefused(
                    f"Tavus recrawls a document at most once an hour ({said}). Its current "
                    "content stays in use meanwhile: press Recrawl again after that.") from error
            if error.status_code == 409:
                raise DocumentRefused(
                    f"Tavus is still working on this document ({said}). Wait until the table "
                    "says ready (or error), then press Recrawl.") from error
            raise
        after()
        return document_id

    return work


def delete_document_work(tavus: TavusClient, records: DocumentRecords, document_id: str, *,
                         after: Callable[[], None] = lambda: None) -> Callable[[Action], str]:
    """Delete a document and the team's note of it; one already gone counts as deleted."""

    def work(action: Action) -> str:
        action.report(step="deleting")
        try:
            tavus.delete_document(document_id)
        except TavusError as error:
            if not _gone(error):
                raise
        records.forget(document_id)
        after()
        return document_id

    return work
