"""The validator side of the inputs document, checked against what the reference code reads.

``clients.validator_inputs`` turns the validator's positions and perf ledgers into the
document's facts; the service then decides from those facts only. Each test builds the
document from small fakes of the validator's objects (as tests/test_validator_inputs.py
does), runs the pure rules on it, and expects the decision the reference code reaches from
the same objects. V = vanta-network bead3ecf, P = PTN c6885610. File keys: V.cpm
vali_objects/challenge_period/challengeperiod_manager.py, V.lu
vali_objects/vali_dataclasses/ledger/ledger_utils.py, V.plm
vali_objects/vali_dataclasses/ledger/perf/perf_ledger_manager.py, V.pl
vali_objects/vali_dataclasses/ledger/perf/perf_ledger.py, V.pm
vali_objects/position_management/position_manager.py, V.em
vali_objects/utils/elimination/elimination_manager.py, V.ps
vali_objects/plagiarism/plagiarism_server.py, V.sc vali_objects/scoring/scoring.py, V.as
vali_objects/utils/asset_selection/asset_selection_manager.py, position_filtering.py
vali_objects/position_management/position_utils/position_filtering.py; P.cpm
vali_objects/utils/challengeperiod_manager.py, P.lu vali_objects/utils/ledger_utils.py, P.pm
vali_objects/utils/position_manager.py, P.em vali_objects/utils/elimination_manager.py.
"""

from __future__ import annotations

import enum
import math
from types import SimpleNamespace as Fake
from typing import Any

import pytest

from clients.validator_inputs import build_refresh_inputs, miner_facts
from services.domain import elimination_rules as er
from services.domain.challengeperiod_rules import refresh
from services.domain.config import PTN_2025_11, VANTA_2025_12, RulesConfig
from services.domain.errors import InvalidInputError
from services.domain.models import MinerBucket, MinerEntry
from services.domain.refresh_inputs import RefreshInputs, parse_refresh_inputs

H12 = 43_200_000
D = 86_400_000
# 2025-06-15 00:00 UTC: before Vanta's asset-selection start (V.as:25), so that gate is off.
DAY0 = 1_749_945_600_000
NAN, INF = math.nan, math.inf
DRAWDOWN = "FAILED_CHALLENGE_PERIOD_DRAWDOWN"
BOTH = pytest.mark.parametrize("rules", [PTN_2025_11, VANTA_2025_12], ids=lambda r: r.name)


def position(opened: int, closed: int | None) -> Fake:
    return Fake(
        orders=[Fake(processed_ms=opened)],
        open_ms=opened,
        close_ms=closed or 0,
        is_closed_position=closed is not None,
    )


def checkpoint(cell_start: int, mdd: float, accum: int = H12) -> Fake:
    return Fake(last_update_ms=cell_start + accum, accum_ms=accum, mdd=mdd)


def ledger(mdds: list[float], start: int = DAY0) -> Fake:
    """A portfolio ledger of full 12-hour cells from ``start``, one per mdd."""
    cps = [checkpoint(start + i * H12, m) for i, m in enumerate(mdds)]
    return Fake(cps=cps, start_time_ms=start)


def one_miner_doc(mdds: list[float], **kwargs: Any) -> RefreshInputs:
    """Hotkey "a", registered, first order at DAY0, one closed position, ledger from DAY0."""
    raw = build_refresh_inputs(
        ["a"], {"a": [position(DAY0, DAY0 + H12)]}, {"a": {"portfolio": ledger(mdds)}}, **kwargs
    )
    return parse_refresh_inputs(raw)


def challenge_reasons(inputs: RefreshInputs, rules: RulesConfig, now: int = DAY0 + 5 * D) -> Any:
    miners = {"a": MinerEntry(MinerBucket.CHALLENGE, DAY0)}
    return refresh(miners, {}, frozenset(), inputs, now, rules).new_reasons


# -- a checkpoint mdd that is not a finite number ------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("mdds", "expected"),
    [
        ([0.85, NAN], {}),
        ([NAN, 0.85], {}),
        ([0.99, NAN, 0.80], {}),
        ([-INF, 0.99], {"a": (DRAWDOWN, 100.0)}),
        ([INF, INF], {}),
    ],
    ids=["nan-last", "nan-first", "nan-middle", "minus-inf", "all-plus-inf"],
)
def test_non_finite_mdd_decides_as_numpy_min_and_clip_do(
    rules: RulesConfig, mdds: list[float], expected: dict[str, Any]
) -> None:
    """V.lu:522-524 (P.lu:509-511): ``np.clip(np.min([cp.mdd ...]), 0, 1)``; np.min returns
    NaN when any checkpoint's mdd is NaN, and then V.lu:380-386 gives a NaN percent and
    V.lu:543 ``NaN >= 10`` is False: the miner passes the drawdown check (V.cpm:342-346;
    P.cpm:348-352). -inf clips to 0, so 100 %; +inf clips to 1, so 0 %. (Python's ``min``
    keeps a NaN only when it comes first, and skips it otherwise.)"""
    assert challenge_reasons(one_miner_doc(mdds), rules) == expected


def test_maincomp_drawdown_with_a_nan_checkpoint_adds_no_row() -> None:
    """V.em:681-691 (P.em:326-338): MAX_TOTAL_DRAWDOWN reads the same
    ``is_beyond_max_drawdown`` of the portfolio ledger, which passes when any mdd is NaN
    (V.lu:522-524, 543)."""
    inputs = one_miner_doc([0.85, NAN])
    assert er.plan_drawdown(["a"], inputs.miners, {}, DAY0 + D, VANTA_2025_12) == []


# -- the other sources, passed through "as they are" -----------------------------------------


def test_the_plagiarism_detectors_map_is_taken_as_it_is() -> None:
    """V.ps:130-141: the plagiarism source the refresh reads is ``{hotkey: {"time": ms, ...}}``
    (the API's JSON, V.ps:219-228) and the review period is measured from
    ``plagiarism_data["time"]``: the builder takes that map as the detector gives it."""
    flags = {"a": {"time": DAY0}}
    inputs = one_miner_doc([0.99], plagiarism=flags)
    assert inputs.plagiarism == {"a": DAY0}


def test_the_scoring_calls_output_is_taken_as_it_is() -> None:
    """V.sc:247-275 (the call of V.cpm:384-391 goes through it, V.sc:167-174): per asset
    class ``{"metrics": {name: {"scores": [(hotkey, value), ...], "weight": w}},
    "penalties": {hotkey: p}}``, scores as a list of pairs, taken as they come."""
    scores = {
        "crypto": {
            "metrics": {"pnl": {"scores": [("a", 0.5), ("b", 0.1)], "weight": 1.0}},
            "penalties": {"a": 1.0, "b": 1.0},
        }
    }
    inputs = one_miner_doc([0.99], scores=scores)
    assert inputs.scores is not None
    assert dict(inputs.scores["crypto"].metrics["pnl"].scores) == {"a": 0.5, "b": 0.1}


def test_a_repeated_metagraph_hotkey_does_not_refuse_the_document() -> None:
    """V.cpm:170-180, 731-757 iterate the metagraph's hotkeys; a second occurrence finds the
    miner already in CHALLENGE at its first order and changes nothing, and V.cpm:238-249
    and the departed step only test membership, so the builder keeps the first place. (The
    chain registers a hotkey once per subnet; the document itself refuses repeats.)"""
    raw = build_refresh_inputs(["a", "a"], {"a": [position(DAY0, DAY0 + H12)]}, {})
    inputs = parse_refresh_inputs(raw)
    outcome = refresh({}, {}, frozenset(), inputs, DAY0 + D, VANTA_2025_12)
    assert outcome.miners == {"a": MinerEntry(MinerBucket.CHALLENGE, DAY0)}


def test_the_builder_names_what_it_cannot_take() -> None:
    """A scoring call's list that scores a hotkey twice, or a plagiarism entry without its
    time, is refused with an error naming it, not guessed at."""
    twice = {"crypto": {"metrics": {"pnl": {"scores": [("a", 0.5), ("a", 0.1)], "weight": 1}}}}
    with pytest.raises(InvalidInputError, match=r"'pnl'.*'a' is scored twice"):
        build_refresh_inputs(["a"], {}, {}, scores=twice)
    with pytest.raises(InvalidInputError, match=r"plagiarism\['a'\] has no 'time'"):
        build_refresh_inputs(["a"], {}, {}, plagiarism={"a": {"when": 5}})


def test_asset_class_enum_and_fractional_flag_time() -> None:
    """The validator's asset classes are a str enum (TradePairCategory); the document keys
    them by value. A flag time of t + 0.5 decides as t does for an integer now: ``now - t
    > period`` (V.ps:139-140) holds for the same ``now`` either way."""

    class Category(enum.Enum):
        CRYPTO = "crypto"

    metric = {"pnl": {"scores": [("a", 0.5)], "weight": 1.0}}
    raw = build_refresh_inputs(
        ["a"],
        {},
        {},
        scores={Category.CRYPTO: {"metrics": metric, "penalties": {}}},
        plagiarism={"a": {"time": DAY0 + 0.5}},
    )
    inputs = parse_refresh_inputs(raw)
    assert inputs.scores is not None and list(inputs.scores) == ["crypto"]
    assert inputs.plagiarism == {"a": DAY0}


# -- facts that match the reference (not pinned elsewhere) -----------------------------------


def test_min_mdd_reads_every_checkpoint_partial_cells_too() -> None:
    """V.lu:522 takes every checkpoint's mdd, full 12-hour cell or not, while trading days
    count full cells only (V.lu:173-188)."""
    cps = [checkpoint(DAY0, 0.97), checkpoint(DAY0 + H12, 0.80, accum=H12 - 1)]
    facts = miner_facts([], {"portfolio": Fake(cps=cps, start_time_ms=DAY0)})
    assert (facts["min_mdd"], facts["n_checkpoints"], facts["trading_days"]) == (0.80, 2, 0)


@pytest.mark.parametrize(
    "ledgers",
    [
        {"portfolio": Fake(cps=[], start_time_ms=0)},
        {"BTCUSD": ledger([0.5])},
        None,
    ],
    ids=["no-checkpoints", "no-portfolio-ledger", "no-ledger"],
)
def test_no_scoring_ledger_without_portfolio_checkpoints(ledgers: Any) -> None:
    """V.plm:334-342: a bundle is kept only when its ``TP_ID_PORTFOLIO`` ledger (default
    an empty PerfLedger) has checkpoints; V.pl:14 ``TP_ID_PORTFOLIO = 'portfolio'``."""
    facts = miner_facts([position(DAY0, DAY0 + H12)], ledgers)
    assert (facts["ledger_start_ms"], facts["n_checkpoints"], facts["min_mdd"]) == (None, 0, None)
    assert facts["trading_days"] == 0


def test_invalidation_given_as_the_managers_dict() -> None:
    """V.plm:330: ``hotkey in self.perf_ledger_hks_to_invalidate``, a {hotkey: time} dict
    (V.plm:42); the same dict passed as ``invalidated_hotkeys`` drops the ledger."""
    doc = build_refresh_inputs(
        ["a", "b"],
        {},
        {"a": {"portfolio": ledger([0.5])}, "b": {"portfolio": ledger([0.5])}},
        invalidated_hotkeys={"a": DAY0},
    )
    assert doc["miners"]["a"]["n_checkpoints"] == 0
    assert doc["miners"]["b"]["n_checkpoints"] == 1


def test_ledger_start_is_the_ledgers_start_time_not_its_first_cell() -> None:
    """V.cpm:257 reads ``ledger.start_time_ms``, which is the initialization time when set
    (V.pl:195-201), not the first checkpoint's cell."""
    facts = miner_facts([], Fake(cps=[checkpoint(DAY0 + D, 0.99)], start_time_ms=DAY0 + 7))
    assert facts["ledger_start_ms"] == DAY0 + 7


@BOTH
def test_a_ledger_without_positions_is_skipped_while_someone_traded(rules: RulesConfig) -> None:
    """V.cpm:252-265, 320-322 (P.cpm:247-266, 320-322): a miner with a ledger and no first
    order is taken for re-registered and skipped, even late and deep in drawdown, when
    another metagraph hotkey has a first order (V.pm:625-638: every metagraph hotkey with
    positions). Ours lists a ledger-only hotkey in ``miners``."""
    raw = build_refresh_inputs(
        ["a", "b"], {"b": [position(DAY0, None)]}, {"a": {"portfolio": ledger([0.5])}}
    )
    miners = {"a": MinerEntry(MinerBucket.CHALLENGE, DAY0)}
    outcome = refresh(miners, {}, frozenset(), parse_refresh_inputs(raw), DAY0 + 91 * D, rules)
    assert "a" not in outcome.new_reasons
    assert outcome.miners["a"] == MinerEntry(MinerBucket.CHALLENGE, DAY0)


@BOTH
def test_only_open_positions_time_the_challenge_but_fail_ptns_screen(rules: RulesConfig) -> None:
    """V.pm:637-638 (P.pm:250-251): the first order is the min over every position, open
    ones too, while the screened list keeps closed positions of at least a minute
    (position_filtering.py:91-104). So a miner with only open positions and a deep
    drawdown is skipped by P's positions screen (P.cpm:336-339) and eliminated by V
    (V.cpm:348-353, no screen)."""
    raw = build_refresh_inputs(
        ["a"],
        {"a": [position(DAY0 + 5, None), position(DAY0 + 9, DAY0 + 20)]},
        {"a": {"portfolio": ledger([0.85], start=DAY0 + 5)}},
    )
    assert raw["miners"]["a"]["first_order_time_ms"] == DAY0 + 5
    assert raw["miners"]["a"]["n_positions"] == 0
    expected = {} if rules is PTN_2025_11 else {"a": (DRAWDOWN, 15.0)}
    assert challenge_reasons(parse_refresh_inputs(raw), rules) == expected
