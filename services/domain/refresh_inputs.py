"""The ``submit_refresh_inputs`` document of RULES.md ("Inputs"): typed form, parser, wire form.

The types are msgspec Structs whose annotations carry every constraint (hotkey length,
time range, non-negative counts, finite numbers, size bounds, no unknown keys), so a
well-formed document is checked and built by msgspec's C code in one pass: from JSON text
(``decode_refresh_inputs``, what the service receives) or from plain objects
(``parse_refresh_inputs``). Anything msgspec refuses goes to the precise checks below,
which raise an ``InvalidInputError`` (or its subclass ``InvalidTypeError``) whose message
names the first bad field by its path, e.g. ``inputs.miners['hk1'].n_positions must be an
int, got str``, or accept what the schema was stricter about (an int past 64 bits); the
result is the same either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sized
from typing import Annotated, Any, TypeVar

import msgspec

from services.domain.errors import InvalidInputError, InvalidTypeError
from services.domain.models import (
    MAX_HOTKEY_LENGTH,
    MAX_TIME_MS,
    check_hotkey,
    check_hotkeys,
    check_int,
    check_number,
    check_time,
    load_json,
)

T = TypeVar("T")

# Far above any subnet's size; a bigger document is a producer bug, and refusing it early
# keeps one bad submission from pinning the service's memory. Applies to every hotkey list
# or hotkey-keyed mapping, since none can name more miners than a metagraph holds.
MAX_METAGRAPH_HOTKEYS = 1_000_000

# The constraints, as msgspec checks them (the precise checks below say the same in words).
Hotkey = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_HOTKEY_LENGTH)]
TimeMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_TIME_MS)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
# The bound of every hotkey list or hotkey-keyed mapping, in documents and in changes.
MANY_HOTKEYS = msgspec.Meta(max_length=MAX_METAGRAPH_HOTKEYS)


class MinerInputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the validator knows about one miner's positions and performance ledger."""

    first_order_time_ms: TimeMs | None
    n_positions: Count
    ledger_start_ms: TimeMs | None
    n_checkpoints: Count
    min_mdd: Finite | None
    trading_days: Count


NO_MINER_INPUTS = MinerInputs(None, 0, None, 0, None, 0)
_MINER_FIELDS: tuple[str, ...] = MinerInputs.__struct_fields__


class MetricScores(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One metric of an asset class: its weight and each hotkey's raw value."""

    weight: Finite
    scores: Annotated[dict[Hotkey, Finite], MANY_HOTKEYS]


class AssetClassScores(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The metrics and per-hotkey penalty multipliers of one asset class."""

    metrics: dict[Hotkey, MetricScores]
    penalties: Annotated[dict[Hotkey, Finite], MANY_HOTKEYS]


class RefreshInputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One parsed ``submit_refresh_inputs`` document; None means "not given"."""

    metagraph_hotkeys: Annotated[tuple[Hotkey, ...], MANY_HOTKEYS]
    miners: Annotated[dict[Hotkey, MinerInputs], MANY_HOTKEYS]
    scores: dict[Hotkey, AssetClassScores] | None = None
    plagiarism: Annotated[dict[Hotkey, TimeMs], MANY_HOTKEYS] | None = None
    asset_selections: Annotated[dict[Hotkey, Hotkey], MANY_HOTKEYS] | None = None
    miner_dir_hotkeys: Annotated[tuple[Hotkey, ...], MANY_HOTKEYS] | None = None

    def zombie_candidates(self) -> tuple[str, ...]:
        """The hotkeys the validator keeps miner data for: ``miner_dir_hotkeys``, else the
        keys of ``miners``."""
        if self.miner_dir_hotkeys is not None:
            return self.miner_dir_hotkeys
        return tuple(self.miners)


class EliminationInputs(msgspec.Struct, frozen=True):
    """The part of the document the elimination steps read; the other keys are skipped
    unread (already checked when the document was submitted)."""

    metagraph_hotkeys: Annotated[tuple[Hotkey, ...], MANY_HOTKEYS]
    miners: Annotated[dict[Hotkey, MinerInputs], MANY_HOTKEYS]
    miner_dir_hotkeys: Annotated[tuple[Hotkey, ...], MANY_HOTKEYS] | None = None


EMPTY_INPUTS = RefreshInputs((), {}, None, None)
_TOP_LEVEL_KEYS = (
    "metagraph_hotkeys",
    "miners",
    "scores",
    "plagiarism",
    "asset_selections",
    "miner_dir_hotkeys",
)
# What each part should look like, for the error that refuses a wrong shape.
_SCORES_SHAPE = '{asset_class: {"metrics": {...}, "penalties": {...}}}'
_CLASS_SHAPE = '{"metrics": {metric_name: {"weight": float, "scores": {...}}}, "penalties": {...}}'
_METRIC_SHAPE = '{"weight": float, "scores": {hotkey: float}}'


_JSON_DECODER = msgspec.json.Decoder(RefreshInputs)
_JSON_ENCODER = msgspec.json.Encoder()


def decode_refresh_inputs(text: str | bytes) -> RefreshInputs:
    """The document in JSON ``text``; raises InvalidInputError naming the first bad field."""
    try:
        return _distinct(_JSON_DECODER.decode(text))
    except (msgspec.ValidationError, msgspec.DecodeError, _Repeated):
        pass
    return _parse_precisely(load_json(text, "inputs"))


def encode_refresh_inputs(inputs: RefreshInputs) -> str:
    """The JSON text ``decode_refresh_inputs`` turns back into ``inputs``."""
    try:
        return _JSON_ENCODER.encode(inputs).decode()
    except OverflowError:  # an int past 64 bits, which the precise checks let through
        return json.dumps(refresh_inputs_to_wire(inputs), separators=(",", ":"))


_PACKED_DECODER = msgspec.msgpack.Decoder(RefreshInputs)
_PACKED_ENCODER = msgspec.msgpack.Encoder()


def decode_refresh_inputs_packed(data: bytes) -> RefreshInputs:
    """The document in msgpack ``data`` (``encode_refresh_inputs_packed``); raises
    InvalidInputError naming the first bad field, as ``decode_refresh_inputs`` does."""
    try:
        return _distinct(_PACKED_DECODER.decode(data))
    except (msgspec.ValidationError, msgspec.DecodeError, _Repeated):
        pass
    try:
        raw = msgspec.msgpack.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidInputError(f"inputs are not valid msgpack: {exc}") from None
    return _parse_precisely(raw)


def encode_refresh_inputs_packed(inputs: RefreshInputs) -> bytes | None:
    """The msgpack bytes ``decode_refresh_inputs_packed`` turns back into ``inputs``: half
    the cost of the JSON text to encode, and less to decode. None for an int past 64 bits,
    which only the JSON text carries."""
    try:
        return _PACKED_ENCODER.encode(inputs)
    except OverflowError:
        return None


def parse_refresh_inputs(raw: object) -> RefreshInputs:
    """Check and convert a document of plain objects; raises InvalidInputError naming the
    first bad field."""
    if isinstance(raw, RefreshInputs):
        return raw
    try:
        return _distinct(msgspec.convert(raw, RefreshInputs))
    except (msgspec.ValidationError, _Repeated):
        return _parse_precisely(raw)


class _Repeated(Exception):
    """A hotkey list names one hotkey twice (the precise checks say where)."""


def distinct_hotkeys(inputs: RefreshInputs) -> bool:
    """No hotkey list of ``inputs`` names a hotkey twice."""
    return all(
        hotkeys is None or len(set(hotkeys)) == len(hotkeys)
        for hotkeys in (inputs.metagraph_hotkeys, inputs.miner_dir_hotkeys)
    )


def _distinct(inputs: RefreshInputs) -> RefreshInputs:
    if not distinct_hotkeys(inputs):
        raise _Repeated
    return inputs


def _parse_precisely(raw: object) -> RefreshInputs:
    """The checks in Python, field by field, for the error that names the bad one."""
    path = "inputs"
    doc = _check_dict(raw, path, _TOP_LEVEL_KEYS)
    scores = doc.get("scores")
    plagiarism = doc.get("plagiarism")
    selections = doc.get("asset_selections")
    miner_dirs = doc.get("miner_dir_hotkeys")
    return RefreshInputs(
        metagraph_hotkeys=_parse_metagraph(_required(doc, "metagraph_hotkeys", path)),
        miners=_parse_hotkey_map(_required(doc, "miners", path), f"{path}.miners", _parse_miner),
        scores=None if scores is None else _parse_scores(scores, f"{path}.scores"),
        plagiarism=(
            None
            if plagiarism is None
            else _parse_hotkey_map(plagiarism, f"{path}.plagiarism", check_time)
        ),
        asset_selections=(
            None
            if selections is None
            else _parse_hotkey_map(selections, f"{path}.asset_selections", _check_name)
        ),
        miner_dir_hotkeys=(
            None
            if miner_dirs is None
            else _parse_hotkey_list(miner_dirs, f"{path}.miner_dir_hotkeys")
        ),
    )


def refresh_inputs_to_wire(inputs: RefreshInputs) -> dict[str, Any]:
    """The plain built-in form that ``parse_refresh_inputs`` turns back into ``inputs``."""
    return {
        "metagraph_hotkeys": list(inputs.metagraph_hotkeys),
        "miners": {hk: msgspec.structs.asdict(m) for hk, m in inputs.miners.items()},
        "scores": None
        if inputs.scores is None
        else {
            asset_class: {
                "metrics": {
                    name: {"weight": metric.weight, "scores": dict(metric.scores)}
                    for name, metric in class_scores.metrics.items()
                },
                "penalties": dict(class_scores.penalties),
            }
            for asset_class, class_scores in inputs.scores.items()
        },
        "plagiarism": None if inputs.plagiarism is None else dict(inputs.plagiarism),
        "asset_selections": (
            None if inputs.asset_selections is None else dict(inputs.asset_selections)
        ),
        "miner_dir_hotkeys": (
            None if inputs.miner_dir_hotkeys is None else list(inputs.miner_dir_hotkeys)
        ),
    }


def _check_dict(
    value: object, path: str, allowed_keys: tuple[str, ...], shape: str = "a dict"
) -> dict[Any, Any]:
    """A dict whose keys are all among ``allowed_keys`` (a typo must not pass as absent)."""
    if not isinstance(value, dict):
        raise InvalidTypeError(f"{path} must be {shape}, got {type(value).__name__}")
    for key in value:
        if key not in allowed_keys:
            raise InvalidInputError(
                f"{path} has unknown key {key!r:.60}; expected {', '.join(allowed_keys)}"
                + ("" if shape == "a dict" else f" (the shape is {shape})")
            )
    return value


def _required(doc: dict[Any, Any], key: str, path: str) -> Any:
    if key not in doc:
        raise InvalidInputError(f"{path}.{key} is required")
    return doc[key]


def _check_size(value: Sized, path: str) -> None:
    if len(value) > MAX_METAGRAPH_HOTKEYS:
        raise InvalidInputError(
            f"{path} has {len(value)} hotkeys, at most {MAX_METAGRAPH_HOTKEYS} are allowed"
        )


def _parse_metagraph(value: object) -> tuple[str, ...]:
    return _parse_hotkey_list(value, "inputs.metagraph_hotkeys")


def _parse_hotkey_list(value: object, path: str) -> tuple[str, ...]:
    """A list of distinct hotkeys, in order."""
    if isinstance(value, (list, tuple, set, frozenset)):
        _check_size(value, path)
    hotkeys = check_hotkeys(value, path)
    seen: set[str] = set()
    for i, hotkey in enumerate(hotkeys):
        if hotkey in seen:
            raise InvalidInputError(f"{path}[{i}] repeats hotkey {hotkey!r}")
        seen.add(hotkey)
    return tuple(hotkeys)


def _parse_hotkey_map(
    value: object, path: str, parse_value: Callable[[Any, str], T]
) -> dict[str, T]:
    """A {hotkey: value} dict, each value checked by ``parse_value(value, path)``."""
    if not isinstance(value, dict):
        raise InvalidTypeError(f"{path} must be a dict, got {type(value).__name__}")
    _check_size(value, path)
    return {
        check_hotkey(key, f"{path} key {key!r:.40}"): parse_value(item, f"{path}[{key!r}]")
        for key, item in value.items()
    }


def _parse_miner(value: object, path: str) -> MinerInputs:
    doc = _check_dict(value, path, _MINER_FIELDS)

    def field(name: str, check: Callable[[Any, str], T]) -> T:
        return check(_required(doc, name, path), f"{path}.{name}")

    # Keyword arguments are evaluated in order, so the first bad field is the one reported.
    return MinerInputs(
        first_order_time_ms=field("first_order_time_ms", _optional(check_time)),
        n_positions=field("n_positions", _check_count),
        ledger_start_ms=field("ledger_start_ms", _optional(check_time)),
        n_checkpoints=field("n_checkpoints", _check_count),
        min_mdd=field("min_mdd", _optional(_check_float)),
        trading_days=field("trading_days", _check_count),
    )


def _optional(check: Callable[[Any, str], T]) -> Callable[[Any, str], T | None]:
    """``check`` that also lets None through."""
    return lambda value, path: None if value is None else check(value, path)


def _check_count(value: object, path: str) -> int:
    count = check_int(value, path)
    if count < 0:
        raise InvalidInputError(f"{path} must be >= 0, got {count}")
    return count


def _check_float(value: object, path: str) -> float:
    # check_number passes ints through; storing floats keeps parse(to_wire(x)) == x exact.
    return float(check_number(value, path))


def _check_name(value: object, path: str) -> str:
    # Asset-class and metric names have the same shape as hotkeys: short non-empty strings.
    return check_hotkey(value, path)


def _parse_scores(value: object, path: str) -> dict[str, AssetClassScores]:
    if not isinstance(value, dict):
        raise InvalidTypeError(f"{path} must be {_SCORES_SHAPE}, got {type(value).__name__}")
    return {
        _check_name(key, f"{path} key {key!r:.40}"): _parse_asset_class(item, f"{path}[{key!r}]")
        for key, item in value.items()
    }


def _parse_asset_class(value: object, path: str) -> AssetClassScores:
    doc = _check_dict(value, path, ("metrics", "penalties"), _CLASS_SHAPE)
    metrics = _required(doc, "metrics", path)
    metrics_path = f"{path}.metrics"
    if not isinstance(metrics, dict):
        raise InvalidTypeError(
            f"{metrics_path} must be {{metric_name: {_METRIC_SHAPE}}}, got {type(metrics).__name__}"
        )
    return AssetClassScores(
        metrics={
            _check_name(key, f"{metrics_path} key {key!r:.40}"): _parse_metric(
                item, f"{metrics_path}[{key!r}]"
            )
            for key, item in metrics.items()
        },
        penalties=_parse_hotkey_map(
            _required(doc, "penalties", path), f"{path}.penalties", _check_float
        ),
    )


def _parse_metric(value: object, path: str) -> MetricScores:
    doc = _check_dict(value, path, ("weight", "scores"), _METRIC_SHAPE)
    return MetricScores(
        weight=_check_float(_required(doc, "weight", path), f"{path}.weight"),
        scores=_parse_hotkey_map(_required(doc, "scores", path), f"{path}.scores", _check_float),
    )
