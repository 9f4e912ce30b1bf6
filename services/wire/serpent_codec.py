"""Serpent, the wire format, encoded and decoded faster for the values this project sends.

Serpent text is a Python literal after a one-line header, and ``serpent.loads`` decodes it
with ``ast.literal_eval``: safe, but it compiles the text and walks the tree in Python,
which is the largest part of a small call's cost. Our calls and results are small trees of
plain str / int / bool / None (large values travel as one JSON string, see ``wire``), so:

- ``dumps``: for a tree of exactly those built-in types (and finite floats), ``repr()`` is
  already a valid serpent literal, built by C code; anything else goes to ``serpent.dumps``.
- ``loads``: a small tokenizer reads that same subset (strings without backslashes, ints,
  ``True``/``False``/``None``, tuples, lists, dicts); at the first token it does not know
  it hands the whole text to ``serpent.loads``. It never evaluates code.

Both sides stay plain serpent: any Pyro5 client or server reads what these produce, and
these read whatever serpent produces.
"""

from __future__ import annotations

import math
import re
from typing import Any

import serpent

HEADER = b"# serpent utf-8 python3.2\n"
_HEADER_LEN = len(HEADER)

# One token of the subset; whitespace between tokens is what serpent's own output holds.
_TOKEN = re.compile(
    r"""[ \t]*(?:
        (?P<str>'[^'\\\n\r\x00]*'|"[^"\\\n\r\x00]*")
      | (?P<int>-?(?:0|[1-9][0-9]{0,17}))(?![0-9.eEjJxXoObB_])
      | (?P<word>True|False|None)(?![A-Za-z0-9_])
      | (?P<punct>[()\[\]{},:])
    )""",
    re.VERBOSE,
)
_WORDS: dict[str, Any] = {"True": True, "False": False, "None": None}
_SCALAR = r"""'[^'\\\n\r\x00]*'|-?(?:0|[1-9][0-9]{0,17})(?![0-9.eEjJxXoObB_])|True|False|None"""
# A Pyro5 call as serpent or repr() write it: (object, method, (scalar args...), {}).
_NAME = r"'([^'\\\n\r\x00]*)'"
_CALL = re.compile(rf"\({_NAME}, ?{_NAME}, ?\(((?:(?:{_SCALAR}), ?)+(?:{_SCALAR})?|)\), ?\{{\}}\)")
_ARG = re.compile(_SCALAR)
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_CONSTANTS: dict[bytes, Any] = {b"True": True, b"False": False, b"None": None}


class _NotSimple(Exception):
    """The text leaves the subset; serpent.loads decodes it."""


_SCALARS = frozenset({str, int, bool, type(None)})


def _simple(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is tuple or kind is list:
        # A loop, not all(): this runs on every call, and a generator costs a frame per item.
        for item in value:  # noqa: SIM110
            if type(item) not in _SCALARS and not _simple(item):
                return False
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SCALARS and not _simple(item)):
                return False
        return True
    if kind is float:
        return math.isfinite(value)
    return False


def dumps(value: Any) -> bytes:
    """Serpent text of ``value``, like ``serpent.dumps(value, module_in_classname=True)``."""
    if _simple(value):
        return HEADER + repr(value).encode()
    return bytes(serpent.dumps(value, module_in_classname=True))


def loads(data: bytes | bytearray | memoryview) -> Any:
    """The value of serpent text, like ``serpent.loads``."""
    return loads_plain(data)[0]


def loads_plain(data: bytes | bytearray | memoryview) -> tuple[Any, bool]:
    """(value, plain): ``plain`` is True when the value holds no dict but an empty one, so
    nothing a Pyro5 serializer would turn into a class (``recreate_classes`` can be skipped)."""
    raw = bytes(data)
    if raw.startswith(HEADER):
        body = raw[_HEADER_LEN:]
        if body in _CONSTANTS:  # the usual reply of a yes/no or a write
            return _CONSTANTS[body], True
        try:
            text = body.decode()
            call = _CALL.fullmatch(text) if len(text) < _SHORT else None
            if call is not None:
                obj, method, args = call.groups()
                args_tuple = tuple(_scalar(a) for a in _ARG.findall(args))
                return (obj, method, args_tuple, {}), True
            value, end = _parse(text, 0)
            if _TOKEN_TAIL.fullmatch(text, end):
                return value, type(value) in _SCALARS
        except (_NotSimple, UnicodeDecodeError, RecursionError):
            pass
    return serpent.loads(raw), False


_TOKEN_TAIL = re.compile(r"[ \t\r\n]*")
# A string holding one of these needs escapes or breaks a line: serpent.loads reads it.
_NOT_IN_PLAIN_STRINGS = ("\\", "\n", "\r", "\x00")
# The whole-call regex pays per character; longer calls carry a long string: _parse.
_SHORT = 512


def _scalar(token: str) -> Any:
    if token[0] == "'":
        return token[1:-1]
    if token in _WORDS:
        return _WORDS[token]
    return int(token)


def _parse(text: str, pos: int) -> tuple[Any, int]:
    while text.startswith(" ", pos):
        pos += 1
    quote = text[pos : pos + 1]
    if quote == "'" or quote == '"':
        # Long strings (JSON documents) are found with str.find and checked with `in`,
        # both C loops that are many times faster per character than the regex.
        end = text.find(quote, pos + 1)
        value = text[pos + 1 : end]
        if end < 0 or any(bad in value for bad in _NOT_IN_PLAIN_STRINGS):
            raise _NotSimple
        return value, end + 1
    match = _TOKEN.match(text, pos)
    if match is None:
        raise _NotSimple
    kind = match.lastgroup
    token = match.group(kind)  # type: ignore[arg-type]
    end = match.end()
    if kind == "str":
        return token[1:-1], end
    if kind == "int":
        return int(token), end
    if kind == "word":
        return _WORDS[token], end
    if token not in _CLOSE:
        raise _NotSimple
    return _parse_container(text, end, token)


def _parse_container(text: str, pos: int, opener: str) -> tuple[Any, int]:
    close = _CLOSE[opener]
    items: list[Any] = []
    keys: list[Any] = []
    while True:
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _NotSimple
        if match.group("punct") == close:
            pos = match.end()
            break
        if opener == "{":
            key, pos = _parse(text, pos)
            pos = _expect(text, pos, ":")
            keys.append(key)
        item, pos = _parse(text, pos)
        items.append(item)
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _NotSimple
        punct = match.group("punct")
        pos = match.end()
        if punct == close:
            break
        if punct != ",":
            raise _NotSimple
    if opener == "(":
        # "(x)" is x in Python, not a tuple: only serpent's own "(x,)" form is accepted.
        if len(items) == 1 and text[pos - 2] != ",":
            raise _NotSimple
        return tuple(items), pos
    if opener == "[":
        return items, pos
    for key in keys:
        if type(key) is not str and type(key) is not int:
            raise _NotSimple
    return dict(zip(keys, items, strict=True)), pos


def _expect(text: str, pos: int, punct: str) -> int:
    match = _TOKEN.match(text, pos)
    if match is None or match.group("punct") != punct:
        raise _NotSimple
    return match.end()
