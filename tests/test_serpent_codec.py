"""serpent_codec reads and writes exactly what serpent does, for any value or text."""

from __future__ import annotations

import enum
import random

import pytest
import serpent

from services.wire import serpent_codec

HEADER = serpent_codec.HEADER
ALPHABET = ["a", "Z", "0", " ", "'", '"', "\\", "\n", "\r", "\t", "\x00", "é", "\u2028", "😀"]


def _random_str(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 9 if depth < 3 else 5)
    if kind == 0:
        return _random_str(rng)
    if kind == 1:
        return rng.choice([0, -1, 7, 2**62, -(2**70), 10**18])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice([0.5, -2.25, 1e300, float("inf"), float("-inf")])
    if kind == 4:
        return "5F" + "1" * 46
    if kind == 5:
        return rng.randint(-1000, 1000)
    items = [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 6:
        return tuple(items)
    if kind == 7:
        return items
    return {_random_str(rng): item for item in items}


def _serpent_or_error(data: bytes) -> object:
    try:
        return serpent.loads(data)
    except Exception as exc:
        return type(exc)


def _codec_or_error(data: bytes) -> object:
    try:
        return serpent_codec.loads(data)
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize("seed", range(20))
def test_random_values_round_trip_both_ways(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        value = _random_value(rng)
        ours = serpent_codec.dumps(value)
        theirs = serpent.dumps(value, module_in_classname=True)
        assert serpent.loads(ours) == serpent.loads(theirs)
        assert serpent_codec.loads(theirs) == serpent.loads(theirs)
        assert serpent_codec.loads(ours) == serpent.loads(theirs)


def test_calls_decode_like_serpent() -> None:
    for args in [(), ("hk",), ("hk", 5, None, True, False, -3), ("it's",), ('say "hi"',)]:
        call: tuple[object, ...] = ("ChallengePeriodManagerServer", "has_miner_rpc", args, {})
        for data in (serpent_codec.dumps(call), serpent.dumps(call, module_in_classname=True)):
            assert serpent_codec.loads(data) == serpent.loads(data) == call


@pytest.mark.parametrize(
    "text",
    [
        "(1)",
        "('o','m',(1),{})",
        "('o','m',('a' 'b',),{})",
        "('o','m',(01,),{})",
        "01",
        "1.5",
        "-0",
        "- 5",
        "b'x'",
        "'a\x00'",
        "'a\\nb'",
        "[1,]",
        "{'a':1,'a':2}",
        "{(1,2):3}",
        "{[1]:2}",
        "(,)",
        "[1 2]",
        "'unterminated",
        "True1",
        "__import__('os')",
        "1 \xa0",
        "",
    ],
)
def test_tricky_texts_decode_like_serpent(text: str) -> None:
    data = HEADER + text.encode()
    assert _codec_or_error(data) == _serpent_or_error(data)


class Color(str, enum.Enum):
    RED = "RED"


@pytest.mark.parametrize(
    "value",
    [{1, 2}, float("nan"), b"raw", Color.RED, {1: "int key"}, (1, {2.5: "float key"})],
)
def test_values_outside_the_subset_are_plain_serpent(value: object) -> None:
    assert serpent_codec.dumps(value) == serpent.dumps(value, module_in_classname=True)


def test_text_without_the_header_is_plain_serpent() -> None:
    data = b"# serpent utf-8 python2.6\n(1,2)"
    assert serpent_codec.loads(data) == serpent.loads(data)


def test_long_json_strings_take_the_fast_path_and_decode_exactly() -> None:
    document = '{"5F' + "1" * 46 + '":["ZOMBIE",-1]}' * 500
    call: tuple[object, ...] = (
        "ChallengePeriodManagerServer",
        "update_elimination_reasons_rpc",
        (document,),
        {},
    )
    for data in (serpent_codec.dumps(call), serpent.dumps(call, module_in_classname=True)):
        assert serpent_codec.loads(data) == serpent.loads(data) == call
    reply = {"timestamp_ms": 5, "body": document + "\\"}
    data = serpent_codec.dumps(reply)
    assert serpent_codec.loads(data) == serpent.loads(data) == reply


def test_plain_flag_is_only_set_when_no_class_dict_can_be_inside() -> None:
    assert serpent_codec.loads_plain(HEADER + b"True") == (True, True)
    assert serpent_codec.loads_plain(HEADER + b"'hk'") == ("hk", True)
    call = serpent_codec.dumps(("o", "m", ("hk", 1), {}))
    assert serpent_codec.loads_plain(call) == (("o", "m", ("hk", 1), {}), True)
    as_class = serpent_codec.dumps({"__class__": "ValueError", "args": ["x"]})
    assert serpent_codec.loads_plain(as_class)[1] is False
