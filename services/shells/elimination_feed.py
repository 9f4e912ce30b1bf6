"""What the challenge-period service hands the elimination service: ``get_elimination_inputs``.

The validator submits its inputs once, to the challenge-period service; the elimination
service asks for them with the ``since`` of its last answer, [epoch, inputs seq, state
version]. The answer is None when that is current; else JSON of the new ``since``, the rule
set's name, the MAINCOMP hotkeys (they change with the state version, without new inputs),
and ``inputs`` (null when none were submitted) only when the inputs changed or the service
restarted (a new epoch), since they can be large. The inputs go in as the JSON text the
service already holds, spliced in, so they are neither re-encoded nor escaped.

``get_elimination_changes`` answers the same, except that a caller holding the inputs this
service last sent it gets ``changes`` (``services.domain.inputs_changes``) in their place:
at 10,000 miners a few kilobytes to a megabyte instead of about 4 MB, and no decoding of
the scores the elimination steps do not read. With them comes ``digest``, the
``elimination_digest`` of the inputs they make, for the caller to check what it rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from services.domain.errors import InvalidInputError
from services.domain.inputs_changes import InputsChanges
from services.wire import codec

Since = tuple[str, int, int]


def check_since(since: Any) -> Since | None:
    """None, or [epoch, inputs seq, state version] as a tuple."""
    if since is None:
        return None
    if not (
        isinstance(since, (list, tuple))
        and len(since) == 3
        and isinstance(since[0], str)
        and all(isinstance(n, int) and not isinstance(n, bool) for n in since[1:])
    ):
        raise InvalidInputError("since must be [epoch, inputs_seq, version] or None")
    return (since[0], since[1], since[2])


def elimination_reply(
    since: Since | None,
    here: Since,
    ruleset: str,
    maincomp: list[str],
    inputs_text: Callable[[], str | None],
    changes: Callable[[], tuple[InputsChanges, int | None]] | None,
) -> str | None:
    """The answer to a caller holding ``since`` when this service is at ``here``.

    None when that is current; else the head, and with it the inputs when they changed:
    as ``changes()`` (the changes and the digest of what they make) when ``changes``
    (None: it cannot) makes them from the caller's, in this epoch, else whole as
    ``inputs_text()``, the JSON text held (None: none held)."""
    if since == here:
        return None
    head = codec.dumps({"since": list(here), "ruleset": ruleset, "maincomp": maincomp})
    if since is not None and since[:2] == here[:2]:
        return head
    if changes is not None and since is not None and since[0] == here[0]:
        made, digest = changes()
        body = msgspec.json.encode(made).decode()
        tail = "" if digest is None else f',"digest":{digest}'
        return f'{head[:-1]},"changes":{body}{tail}}}'
    text = inputs_text()
    return f'{head[:-1]},"inputs":{"null" if text is None else text}}}'
