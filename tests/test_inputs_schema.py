"""The msgspec schemas (refresh inputs, reason batches) and the precise checks agree:
whatever a schema accepts, the precise checks accept with the same result; whatever either
refuses, the caller sees the precise checks' error. Checked over many documents made by
mutating a valid one at random."""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

import msgspec
import pytest

from services.domain import fast_checks, refresh_inputs
from services.domain.errors import InvalidInputError
from services.domain.models import EliminationReason, check_reasons
from services.domain.refresh_inputs import (
    decode_refresh_inputs,
    decode_refresh_inputs_packed,
    encode_refresh_inputs,
    encode_refresh_inputs_packed,
    parse_refresh_inputs,
)
from tests.test_refresh_inputs import valid_document

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    5.0,
    -0.5,
    math.nan,
    math.inf,
    "",
    "x" * 300,
    "hk1",
    [],
    ["hk1", "hk1"],
    {},
    {"extra": 1},
    7_258_118_400_001,
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutated(rng: random.Random) -> Any:
    doc = valid_document()
    for _ in range(rng.randint(1, 2)):
        paths = _paths(doc)
        if not paths:
            break
        path = rng.choice(paths)
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.3 and isinstance(parent, dict):
            parent[rng.choice(["hk9", "", "unknown_key", "y" * 300])] = copy.deepcopy(
                parent[path[-1]]
            )
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    return doc


def _outcome(parse: Any, doc: Any) -> tuple[str, Any]:
    try:
        return ("ok", parse(doc))
    except InvalidInputError as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("seed", range(8))
def test_schema_and_precise_checks_agree_on_mutated_documents(seed: int) -> None:
    rng = random.Random(seed)
    accepted = 0
    for _ in range(250):
        doc = _mutated(rng)
        precise = _outcome(refresh_inputs._parse_precisely, doc)
        assert _outcome(parse_refresh_inputs, doc) == precise, doc
        try:
            packed = msgspec.msgpack.encode(doc)
        except OverflowError:  # an int past 64 bits: only JSON text carries it
            pass
        else:
            assert _outcome(decode_refresh_inputs_packed, packed) == precise, doc
        try:
            text = json.dumps(doc)
        except (TypeError, ValueError):
            continue
        assert _outcome(decode_refresh_inputs, text) == precise, doc
        accepted += precise[0] == "ok"
    assert accepted > 0  # the mutations leave some documents valid, so both sides are tried


def test_encoded_inputs_decode_to_the_same_value() -> None:
    parsed = parse_refresh_inputs(valid_document())
    text = encode_refresh_inputs(parsed)
    assert decode_refresh_inputs(text) == parsed
    assert json.loads(text)["miners"]["hk1"]["n_positions"] == 4


def test_packed_inputs_decode_to_the_same_value() -> None:
    parsed = parse_refresh_inputs(valid_document())
    packed = encode_refresh_inputs_packed(parsed)
    assert packed is not None and decode_refresh_inputs_packed(packed) == parsed
    document = valid_document()
    document["miners"]["hk1"]["n_positions"] = 2**70  # the precise checks accept it
    assert encode_refresh_inputs_packed(parse_refresh_inputs(document)) is None


def test_bad_msgpack_is_named() -> None:
    with pytest.raises(InvalidInputError, match="inputs are not valid msgpack"):
        decode_refresh_inputs_packed(b"\xc1")


def test_bad_json_text_is_named() -> None:
    with pytest.raises(InvalidInputError, match="inputs is not valid JSON"):
        decode_refresh_inputs("{not json")


REASON_VALUES: list[Any] = [
    ("ZOMBIE", -1),
    ["MAX_TOTAL_DRAWDOWN", 0.125],
    ("PLAGIARISM", 2**70),
    ("NOPE", 1),
    ("ZOMBIE", math.nan),
    ("ZOMBIE", True),
    ("ZOMBIE",),
    "ZOMBIE",
    None,
    (EliminationReason.LIQUIDATED, 0.5),
]


@pytest.mark.parametrize("seed", range(4))
def test_reason_batches_agree_with_the_precise_checks(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        batch: dict[Any, Any] = {
            rng.choice(["a", "b", "", "k" * 300, "c"]): rng.choice(REASON_VALUES)
            for _ in range(rng.randint(0, 4))
        }
        precise = _outcome(check_reasons, batch)
        assert _outcome(fast_checks.reasons, batch) == precise, batch
        try:
            text = json.dumps(batch)
        except (TypeError, ValueError):
            continue
        assert _outcome(fast_checks.decode_reasons, text) == _outcome(
            check_reasons, json.loads(text)
        ), batch


def test_floats_decode_bit_for_bit_as_pythons_json_does() -> None:
    """Scores and drawdowns decide buckets: msgspec must read every float exactly as the
    precise path (Python's json) does, and its encoding must read back unchanged."""
    rng = random.Random(11)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 12) for _ in range(3000)]
    values += [0.1 + 0.2, 1e-308, 5e-324, 1.7976931348623157e308, -0.0, 2**53 + 1.0]
    doc = valid_document()
    doc["scores"]["crypto"]["metrics"]["pnl"]["scores"] = {f"h{i}": v for i, v in enumerate(values)}
    text = json.dumps(doc)
    fast = decode_refresh_inputs(text)
    precise = refresh_inputs._parse_precisely(json.loads(text))
    assert fast == precise
    got = fast.scores["crypto"].metrics["pnl"].scores  # type: ignore[index]
    assert all(got[f"h{i}"].hex() == float(v).hex() for i, v in enumerate(values))
    assert decode_refresh_inputs(encode_refresh_inputs(fast)) == fast
