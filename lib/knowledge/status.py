"""What a document's status and Tavus's error codes mean, in plain words with the fix."""

from __future__ import annotations

from dataclasses import dataclass

from lib.tavus.client import Document, DocumentStatus

__all__ = ["DOCUMENT_ERRORS", "ErrorExplained", "explain_error", "status_text"]


@dataclass(frozen=True)
class ErrorExplained:
    code: str
    what: str  # what went wrong, in plain words
    fix: str  # what to do next


# The codes Tavus documents for `error_message` (tavus-api.md, "Knowledge base").
DOCUMENT_ERRORS = {e.code: e for e in (
    ErrorExplained("file_download_failed", "Tavus could not download the file.",
                   "Add it again: the link may have expired or the bucket refused Tavus. "
                   "Check the bucket allows presigned GETs."),
    ErrorExplained("file_format_unsupported", "Tavus cannot read this kind of file.",
                   "Save it as PDF, TXT, DOCX, DOC, PNG, JPG, PPTX, CSV or XLSX and add it again."),
    ErrorExplained("file_size_too_large", "The file is over Tavus's 50 MB limit.",
                   "Split it or compress its images, then add the parts."),
    ErrorExplained("file_empty", "The file has no content.",
                   "Check you chose the right file, then add it again."),
    ErrorExplained("invalid_file_url", "Tavus refused the link it was given.",
                   "Use an http(s) address that opens in a browser without signing in."),
    ErrorExplained("document_processing_failed", "Tavus could not read the file's content.",
                   "Open it to check it is not damaged or password-protected, save it again "
                   "(e.g. as PDF) and add it again."),
    ErrorExplained("website_processing_failed", "Tavus could not read the website.",
                   "Check the address opens without signing in or a cookie wall; try a "
                   "smaller crawl (depth, pages) or a single page."),
    ErrorExplained("chunking_failed", "Tavus could not split the content into passages.",
                   "Add it again; if it fails twice, try a simpler format (TXT or PDF)."),
    ErrorExplained("embedding_failed", "Tavus could not index the content.",
                   "Add it again later; if it keeps failing, contact Tavus support."),
    ErrorExplained("vector_store_failed", "Tavus could not store the index.",
                   "Add it again later; if it keeps failing, contact Tavus support."),
    ErrorExplained("contact_support", "Tavus stopped processing for a reason only it knows.",
                   "Contact Tavus support with the document id."),
)}


def explain_error(code: str | None) -> ErrorExplained:
    """A failed document's code explained; an unknown code is shown as it came."""
    if code and code in DOCUMENT_ERRORS:
        return DOCUMENT_ERRORS[code]
    return ErrorExplained(code or "unknown", f"Tavus reported: {code or 'no reason given'}.",
                          "Add it again; if it fails again, contact Tavus support.")


def status_text(document: Document) -> str:
    """The status column: "processing 40 %", "ready", "error: file_empty", …"""
    state = document.state
    if state is DocumentStatus.PROCESSING and document.progress is not None:
        return f"processing {document.progress} %"
    if state is DocumentStatus.ERROR:
        return f"error: {document.error_message or 'unknown'}"
    return str(state)
