"""The one refusal type the simulator's state raises and its HTTP layer answers."""

from __future__ import annotations


class ApiError(Exception):
    """A refusal that the HTTP layer turns into `{key: message}` with `status`.

    `key` is "error" for Tavus's usual 400s; a few answers the contract documents carry
    "message" instead (a document's 404, a malformed JSON Patch's 422).
    """

    def __init__(self, status: int, message: str, *, key: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key
