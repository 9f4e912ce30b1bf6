"""parse_refresh_inputs / refresh_inputs_to_wire: the submit_refresh_inputs document."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from services.domain import refresh_inputs
from services.domain.errors import InvalidInputError, InvalidTypeError
from services.domain.refresh_inputs import (
    EMPTY_INPUTS,
    NO_MINER_INPUTS,
    AssetClassScores,
    MetricScores,
    MinerInputs,
    RefreshInputs,
    decode_refresh_inputs,
    parse_refresh_inputs,
    refresh_inputs_to_wire,
)

DELETE = object()


def valid_document() -> dict[str, Any]:
    return {
        "metagraph_hotkeys": ["hk1", "hk2", "hk3"],
        "miners": {
            "hk1": {
                "first_order_time_ms": 1_000,
                "n_positions": 4,
                "ledger_start_ms": 1_000,
                "n_checkpoints": 12,
                "min_mdd": 0.93,
                "trading_days": 61,
            },
            "hk2": {
                "first_order_time_ms": None,
                "n_positions": 0,
                "ledger_start_ms": None,
                "n_checkpoints": 0,
                "min_mdd": None,
                "trading_days": 0,
            },
        },
        "scores": {
            "crypto": {
                "metrics": {
                    "pnl": {"weight": 0.9, "scores": {"hk1": 0.5, "hk2": -0.25}},
                    "sharpe": {"weight": 0.1, "scores": {"hk1": 1.5}},
                },
                "penalties": {"hk1": 1.0, "hk2": 0.5},
            },
        },
        "plagiarism": {"hk2": 5_000},
        "asset_selections": {"hk1": "crypto"},
        "miner_dir_hotkeys": ["hk1", "hk2", "gone"],
    }


def changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """valid_document() with the item at ``path`` replaced by ``value`` (or deleted)."""
    doc = valid_document()
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


MALFORMED = [
    pytest.param(["not", "a", "dict"], InvalidTypeError, "inputs must be a dict", id="not-dict"),
    pytest.param(
        changed(("metagraph",), ["hk1"]),
        InvalidInputError,
        "inputs has unknown key 'metagraph'",
        id="unknown-top-level-key",
    ),
    pytest.param(
        changed(("metagraph_hotkeys",), DELETE),
        InvalidInputError,
        "inputs.metagraph_hotkeys is required",
        id="no-metagraph",
    ),
    pytest.param(
        changed(("miners",), DELETE), InvalidInputError, "inputs.miners is required", id="no-miners"
    ),
    pytest.param(
        changed(("metagraph_hotkeys",), "hk1"),
        InvalidTypeError,
        "inputs.metagraph_hotkeys must be a list",
        id="metagraph-str",
    ),
    pytest.param(
        changed(("metagraph_hotkeys", 1), 7),
        InvalidTypeError,
        "inputs.metagraph_hotkeys[1] must be a str, got int",
        id="metagraph-int-hotkey",
    ),
    pytest.param(
        changed(("metagraph_hotkeys", 0), ""),
        InvalidInputError,
        "inputs.metagraph_hotkeys[0] must be 1 to 256 characters long",
        id="metagraph-empty-hotkey",
    ),
    pytest.param(
        changed(("metagraph_hotkeys",), ["hk1", "hk2", "hk1"]),
        InvalidInputError,
        "inputs.metagraph_hotkeys[2] repeats hotkey 'hk1'",
        id="metagraph-duplicate",
    ),
    pytest.param(
        changed(("miners",), [["hk1", {}]]),
        InvalidTypeError,
        "inputs.miners must be a dict, got list",
        id="miners-list",
    ),
    pytest.param(
        changed(("miners", "x" * 257), valid_document()["miners"]["hk1"]),
        InvalidInputError,
        "inputs.miners key 'xxx",
        id="miners-key-too-long",
    ),
    pytest.param(
        changed(("miners", "hk1"), None),
        InvalidTypeError,
        "inputs.miners['hk1'] must be a dict, got NoneType",
        id="miner-none",
    ),
    pytest.param(
        changed(("miners", "hk1", "trading_days"), DELETE),
        InvalidInputError,
        "inputs.miners['hk1'].trading_days is required",
        id="miner-missing-key",
    ),
    pytest.param(
        changed(("miners", "hk1", "n_orders"), 3),
        InvalidInputError,
        "inputs.miners['hk1'] has unknown key 'n_orders'",
        id="miner-unknown-key",
    ),
    pytest.param(
        changed(("miners", "hk1", "n_positions"), "4"),
        InvalidTypeError,
        "inputs.miners['hk1'].n_positions must be an int, got str",
        id="n_positions-str",
    ),
    pytest.param(
        changed(("miners", "hk1", "n_positions"), True),
        InvalidTypeError,
        "inputs.miners['hk1'].n_positions must be an int, got bool",
        id="n_positions-bool",
    ),
    pytest.param(
        changed(("miners", "hk1", "n_checkpoints"), -1),
        InvalidInputError,
        "inputs.miners['hk1'].n_checkpoints must be >= 0, got -1",
        id="n_checkpoints-negative",
    ),
    pytest.param(
        changed(("miners", "hk1", "trading_days"), -5),
        InvalidInputError,
        "inputs.miners['hk1'].trading_days must be >= 0, got -5",
        id="trading_days-negative",
    ),
    pytest.param(
        changed(("miners", "hk1", "first_order_time_ms"), 1000.0),
        InvalidTypeError,
        "inputs.miners['hk1'].first_order_time_ms must be an int, got float",
        id="first_order_time-float",
    ),
    pytest.param(
        changed(("miners", "hk1", "ledger_start_ms"), 1_700_000_000_000_000),
        InvalidInputError,
        "inputs.miners['hk1'].ledger_start_ms must be milliseconds since the epoch",
        id="ledger_start-microseconds",
    ),
    pytest.param(
        changed(("miners", "hk1", "min_mdd"), float("nan")),
        InvalidInputError,
        "inputs.miners['hk1'].min_mdd must be finite",
        id="min_mdd-nan",
    ),
    pytest.param(
        changed(("miners", "hk1", "min_mdd"), "0.9"),
        InvalidTypeError,
        "inputs.miners['hk1'].min_mdd must be a number, got str",
        id="min_mdd-str",
    ),
    pytest.param(
        changed(("scores",), [1, 2]),
        InvalidTypeError,
        'inputs.scores must be {asset_class: {"metrics": {...}, "penalties": {...}}}, got list',
        id="scores-list",
    ),
    pytest.param(
        changed(("scores",), {"5F" + "x" * 46: 0.5}),
        InvalidTypeError,
        "inputs.scores['5F" + "x" * 46 + "'] must be "
        '{"metrics": {metric_name: {"weight": float, "scores": {...}}}, "penalties": {...}}, '
        "got float",
        id="scores-keyed-by-hotkey",
    ),
    pytest.param(
        changed(("scores", "crypto", "penalties"), DELETE),
        InvalidInputError,
        "inputs.scores['crypto'].penalties is required",
        id="asset-class-no-penalties",
    ),
    pytest.param(
        changed(("scores", "crypto", "metrics"), None),
        InvalidTypeError,
        "inputs.scores['crypto'].metrics must be "
        '{metric_name: {"weight": float, "scores": {hotkey: float}}}, got NoneType',
        id="metrics-none",
    ),
    pytest.param(
        changed(("scores", "crypto", "metrics", ""), {"weight": 1.0, "scores": {}}),
        InvalidInputError,
        "inputs.scores['crypto'].metrics key '' must be 1 to 256 characters long",
        id="metric-name-empty",
    ),
    pytest.param(
        changed(("scores", "crypto", "metrics", "pnl", "weight"), float("inf")),
        InvalidInputError,
        "inputs.scores['crypto'].metrics['pnl'].weight must be finite",
        id="weight-inf",
    ),
    pytest.param(
        changed(("scores", "crypto", "metrics", "pnl", "weights"), 0.9),
        InvalidInputError,
        "inputs.scores['crypto'].metrics['pnl'] has unknown key 'weights'",
        id="metric-unknown-key",
    ),
    pytest.param(
        changed(("scores", "crypto", "metrics", "pnl", "scores", "hk1"), "high"),
        InvalidTypeError,
        "inputs.scores['crypto'].metrics['pnl'].scores['hk1'] must be a number, got str",
        id="metric-score-str",
    ),
    pytest.param(
        changed(("scores", "crypto", "penalties", "hk2"), None),
        InvalidTypeError,
        "inputs.scores['crypto'].penalties['hk2'] must be a number, got NoneType",
        id="penalty-none",
    ),
    pytest.param(
        changed(("plagiarism",), ["hk2"]),
        InvalidTypeError,
        "inputs.plagiarism must be a dict, got list",
        id="plagiarism-list",
    ),
    pytest.param(
        changed(("plagiarism", "hk2"), -1),
        InvalidInputError,
        "inputs.plagiarism['hk2'] must be milliseconds since the epoch",
        id="plagiarism-negative-time",
    ),
    pytest.param(
        changed(("plagiarism", 5), 1_000),
        InvalidTypeError,
        "inputs.plagiarism key 5 must be a str, got int",
        id="plagiarism-int-key",
    ),
]


@pytest.mark.parametrize(("document", "error", "message"), MALFORMED)
def test_malformed_document_is_refused_naming_the_field(
    document: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        parse_refresh_inputs(document)
    assert message in str(caught.value)
    # RULES.md promises a ValueError; InvalidTypeError is one too.
    assert isinstance(caught.value, ValueError)


def test_first_bad_field_in_document_order_is_named() -> None:
    doc = changed(("miners", "hk1", "n_positions"), "4")
    doc["miners"]["hk1"]["trading_days"] = "61"
    doc["plagiarism"] = "none"
    with pytest.raises(InvalidTypeError, match=r"inputs\.miners\['hk1'\]\.n_positions "):
        parse_refresh_inputs(doc)


def test_unknown_key_is_named_before_missing_ones() -> None:
    with pytest.raises(InvalidInputError, match="inputs has unknown key 'hotkeys'"):
        parse_refresh_inputs({"hotkeys": []})


# The schema holds the limit from import on; the precise checks read it when they run.
def test_metagraph_larger_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refresh_inputs, "MAX_METAGRAPH_HOTKEYS", 3)
    refresh_inputs._parse_precisely(valid_document())  # exactly at the limit passes
    doc = changed(("metagraph_hotkeys",), ["hk1", "hk2", "hk3", "hk4"])
    with pytest.raises(InvalidInputError, match=r"inputs\.metagraph_hotkeys has 4 hotkeys"):
        refresh_inputs._parse_precisely(doc)


def test_hotkey_mappings_share_the_metagraph_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refresh_inputs, "MAX_METAGRAPH_HOTKEYS", 1)
    doc = changed(("metagraph_hotkeys",), ["hk1"])
    with pytest.raises(InvalidInputError, match=r"inputs\.miners has 2 hotkeys"):
        refresh_inputs._parse_precisely(doc)


def test_the_schema_refuses_a_metagraph_over_the_limit() -> None:
    hotkeys = [f"h{i}" for i in range(refresh_inputs.MAX_METAGRAPH_HOTKEYS + 1)]
    text = json.dumps({"metagraph_hotkeys": hotkeys, "miners": {}})
    with pytest.raises(InvalidInputError, match=r"inputs\.metagraph_hotkeys has 1000001 hotkeys"):
        decode_refresh_inputs(text)


def test_metagraph_limit_is_one_million() -> None:
    assert refresh_inputs.MAX_METAGRAPH_HOTKEYS == 1_000_000


def test_valid_document_parses_to_typed_values() -> None:
    parsed = parse_refresh_inputs(valid_document())
    assert parsed.metagraph_hotkeys == ("hk1", "hk2", "hk3")
    assert parsed.miners["hk1"] == MinerInputs(1_000, 4, 1_000, 12, 0.93, 61)
    assert parsed.miners["hk2"] == NO_MINER_INPUTS
    assert parsed.scores is not None
    crypto = parsed.scores["crypto"]
    assert crypto.metrics["pnl"] == MetricScores(0.9, {"hk1": 0.5, "hk2": -0.25})
    assert crypto.penalties == {"hk1": 1.0, "hk2": 0.5}
    assert parsed.plagiarism == {"hk2": 5_000}


def test_valid_document_round_trips() -> None:
    doc = valid_document()
    parsed = parse_refresh_inputs(doc)
    wire = refresh_inputs_to_wire(parsed)
    assert wire == doc
    assert parse_refresh_inputs(json.loads(json.dumps(wire))) == parsed


def test_round_trip_of_constructed_inputs() -> None:
    inputs = RefreshInputs(
        metagraph_hotkeys=("a", "b"),
        miners={"a": MinerInputs(None, 0, 5, 1, 1.0, 0)},
        scores={"forex": AssetClassScores({"omega": MetricScores(0.02, {"b": 3.0})}, {})},
        plagiarism=None,
    )
    assert parse_refresh_inputs(refresh_inputs_to_wire(inputs)) == inputs


def test_empty_inputs_round_trip() -> None:
    assert parse_refresh_inputs(refresh_inputs_to_wire(EMPTY_INPUTS)) == EMPTY_INPUTS


@pytest.mark.parametrize("key", ["scores", "plagiarism"])
@pytest.mark.parametrize("absent", ["missing", "none"])
def test_optional_sections_absent_or_none_are_not_given(key: str, absent: str) -> None:
    doc = changed((key,), DELETE if absent == "missing" else None)
    assert getattr(parse_refresh_inputs(doc), key) is None


def test_ints_where_floats_are_expected_are_stored_as_floats() -> None:
    doc = changed(("miners", "hk1", "min_mdd"), 1)
    doc["scores"]["crypto"]["metrics"]["pnl"]["weight"] = 1
    parsed = parse_refresh_inputs(doc)
    assert parsed.scores is not None
    assert type(parsed.miners["hk1"].min_mdd) is float
    assert type(parsed.scores["crypto"].metrics["pnl"].weight) is float


def test_metagraph_may_be_a_tuple() -> None:
    parsed = parse_refresh_inputs(changed(("metagraph_hotkeys",), ("hk1", "hk2")))
    assert parsed.metagraph_hotkeys == ("hk1", "hk2")


def test_parse_leaves_the_document_untouched() -> None:
    doc = valid_document()
    before = copy.deepcopy(doc)
    parse_refresh_inputs(doc)
    assert doc == before


def test_no_miner_inputs_means_no_positions_and_no_ledger() -> None:
    nothing_known = MinerInputs(
        first_order_time_ms=None,
        n_positions=0,
        ledger_start_ms=None,
        n_checkpoints=0,
        min_mdd=None,
        trading_days=0,
    )
    assert nothing_known == NO_MINER_INPUTS
