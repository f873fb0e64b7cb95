"""RFC 6902 JSON Patch over RFC 6901 JSON Pointers, for PATCH /v2/personas/{id}.

Small and strict on purpose: the whole patch applies to a copy or nothing does, and every malformed
operation is refused with the reason, so a client bug shows up here rather than against Tavus.
"""

from __future__ import annotations

import copy
from typing import Any

OPS = ("add", "remove", "replace", "move", "copy", "test")


class PatchError(Exception):
    """The patch cannot be applied (malformed, a path that is not there, a failed test)."""


def parse_pointer(pointer: Any) -> list[str]:
    """"/layers/llm/model" -> ["layers", "llm", "model"]; "" is the whole document."""
    if not isinstance(pointer, str):
        raise PatchError("a path must be a string")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"path {pointer!r} must start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:  # "~" may only start the escapes ~0 and ~1
        rest = token.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise PatchError(f"path {pointer!r} has an invalid escape")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _index(token: str, size: int, *, append: bool, pointer: str) -> int:
    if append and token == "-":
        return size
    # RFC 6901: decimal digits, no leading zero, no sign.
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f"path {pointer!r}: {token!r} is not an array index")
    index = int(token)
    if index > size or (index == size and not append):
        raise PatchError(f"path {pointer!r}: index {index} is out of range")
    return index


def _parent(doc: Any, tokens: list[str], pointer: str) -> Any:
    """The container that holds the last token's member."""
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path {pointer!r} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), append=False, pointer=pointer)]
        else:
            raise PatchError(f"path {pointer!r} does not exist")
    return node


def get(doc: Any, pointer: str) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, pointer), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {pointer!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(last, len(parent), append=False, pointer=pointer)]
    raise PatchError(f"path {pointer!r} does not exist")


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, pointer), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), append=True, pointer=pointer), value)
    else:
        raise PatchError(f"path {pointer!r} does not exist")
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    """-> (the document, the removed value)."""
    tokens = parse_pointer(pointer)
    if not tokens:
        raise PatchError("the whole document cannot be removed")
    parent, last = _parent(doc, tokens, pointer), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {pointer!r} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), append=False, pointer=pointer))
    raise PatchError(f"path {pointer!r} does not exist")


def _op(doc: Any, op: Any, n: int) -> Any:
    if not isinstance(op, dict):
        raise PatchError(f"operation {n} is not an object")
    name, path = op.get("op"), op.get("path")
    if name not in OPS:
        raise PatchError(f"operation {n}: op must be one of {', '.join(OPS)}")
    if "path" not in op:
        raise PatchError(f"operation {n}: path is required")
    if name in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"operation {n}: {name} needs a value")
    if name in ("move", "copy") and "from" not in op:
        raise PatchError(f"operation {n}: {name} needs a from")
    if name == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, path)[0]
    if name == "replace":
        get(doc, path)  # replace needs an existing target
        if not parse_pointer(path):
            return copy.deepcopy(op["value"])
        doc, _ = _remove(doc, path)
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "test":
        if get(doc, path) != op["value"]:
            raise PatchError(f"operation {n}: test failed at {path!r}")
        return doc
    source = op["from"]
    value = copy.deepcopy(get(doc, source))
    if name == "move":
        if path != source and str(path).startswith(f"{source}/"):
            raise PatchError(f"operation {n}: cannot move {source!r} into itself")
        doc, value = _remove(doc, source)
    return _add(doc, path, value)


def apply(doc: Any, patch: Any) -> Any:
    """-> a patched deep copy of `doc`; PatchError (and `doc` untouched) on any failure."""
    if not isinstance(patch, list):
        raise PatchError("the body must be an array of operations")
    out = copy.deepcopy(doc)
    for n, op in enumerate(patch):
        out = _op(out, op, n)
    return out
