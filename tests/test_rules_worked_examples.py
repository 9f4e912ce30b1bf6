"""RULES.md worked examples 1-19, each under the rule sets it names, with both sides of
each bound; plus the analysis' D1 (numpy rounding of dd), D8/D9 (a plagiarism reason wins
for a hotkey that joins and is flagged in the same refresh) and D15 (a selection map with
only an unrelated hotkey turns the class filter on).

S = 1,000,000; D = 86,400,000; penalties 1; one metric of weight 1 unless said. Everything
goes through the public client in direct mode, except example 4 (a custom rules config,
which the client cannot take: the pure ``refresh`` runs it) and example 18 (softmax values,
which no client answer shows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from clients import ChallengePeriodManager, MinerBucket
from services.domain import config as rules_config
from services.domain.challengeperiod_rules import refresh as pure_refresh
from services.domain.models import MinerEntry
from services.domain.refresh_inputs import parse_refresh_inputs
from services.domain.scoring import softmax
from tests import peer_inputs as pi

S = 1_000_000
D = pi.DAY_MS
TIME = (pi.TIME, -1)
BOTH = pytest.mark.parametrize("ruleset", pi.RULESETS)
ONLY_PTN = pytest.mark.parametrize("ruleset", [pi.PTN])
ONLY_VANTA = pytest.mark.parametrize("ruleset", [pi.VANTA])


@pytest.fixture
def cpm(tmp_path: Path, ruleset: str) -> Iterator[ChallengePeriodManager]:
    with ChallengePeriodManager(
        running_unit_tests=True, state_dir=tmp_path / "cp", ruleset=ruleset
    ) as client:
        yield client


def healthy(
    first: int | None = S, *, min_mdd: float | None = 0.99, days: int = 10, **extra: Any
) -> dict[str, Any]:
    """A miner with positions from ``first`` and a scoring ledger starting there."""
    fields: dict[str, Any] = {
        "first_order_time_ms": first,
        "n_positions": 3,
        "ledger_start_ms": first,
        "n_checkpoints": 5,
        "min_mdd": min_mdd,
        "trading_days": days,
    }
    fields.update(extra)
    return fields


def run(
    cpm: ChallengePeriodManager,
    now: int,
    miners: Mapping[str, dict[str, Any]],
    *,
    buckets: Mapping[str, tuple[str, int]] | None = None,
    metagraph: Sequence[str] | None = None,
    **optional: Any,
) -> dict[str, Any]:
    for hotkey, (bucket, start) in (buckets or {}).items():
        cpm.set_miner_bucket(hotkey, bucket, start)
    hotkeys = list(miners) if metagraph is None else list(metagraph)
    cpm.submit_refresh_inputs(pi.inputs(hotkeys, miners, **optional))
    return cpm.refresh_now(current_time_ms=now)


def one_metric(values: Mapping[str, float], **kw: Any) -> dict[str, Any]:
    return pi.scores({"crypto": values}, pi.ONE_METRIC, **kw)


# -- 1. time limits ------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(("bucket", "limit"), [("CHALLENGE", 90 * D), ("PROBATION", 60 * D)])
@pytest.mark.parametrize(("past", "eliminated"), [(0, False), (1, True)])
def test_example_1_time_limits(
    cpm: ChallengePeriodManager, bucket: str, limit: int, past: int, eliminated: bool
) -> None:
    now = S + limit + past
    summary = run(cpm, now, {"m": healthy()}, buckets={"m": (bucket, S)})
    if eliminated:
        assert summary["eliminated"] == {"m": TIME}
        assert cpm.get_miner_bucket("m") is None
    else:
        assert summary["eliminated"] == {}
        assert cpm.get_miner_bucket("m") is MinerBucket(bucket)
        assert cpm.get_miner_start_time("m") == S


# -- 2. time before drawdown ---------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("now", "reason"),
    [(S + 90 * D + 1, TIME), (S + 90 * D, (pi.DRAWDOWN, 11.0))],
)
def test_example_2_time_wins_over_drawdown(
    cpm: ChallengePeriodManager, now: int, reason: tuple[str, float]
) -> None:
    summary = run(cpm, now, {"m": healthy(min_mdd=0.89)}, buckets={"m": ("CHALLENGE", S)})
    assert summary["eliminated"] == {"m": reason}
    assert cpm.get_miner_bucket("m") is None


# -- 3. drawdown ---------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("min_mdd", "reason"),
    [
        (0.89, (pi.DRAWDOWN, 11.0)),
        (0.90, None),  # pct 9.999999999999998: the unrounded value passes
        (0.8999, (pi.DRAWDOWN, 10.01)),
        (-0.1, (pi.DRAWDOWN, 100.0)),
        (0.0, (pi.DRAWDOWN, 100.0)),
        (1.0, None),
        (1.5, None),
        (None, None),
    ],
)
def test_example_3_drawdown(
    cpm: ChallengePeriodManager, min_mdd: float | None, reason: tuple[str, float] | None
) -> None:
    summary = run(cpm, S + D, {"m": healthy(min_mdd=min_mdd)})
    if reason is None:
        assert summary["eliminated"] == {}
        assert cpm.get_miner_bucket("m") is MinerBucket.CHALLENGE
    else:
        assert summary["eliminated"] == {"m": reason}
        assert cpm.get_miner_bucket("m") is None


@BOTH
def test_d1_dd_is_rounded_as_numpy_rounds(cpm: ChallengePeriodManager) -> None:
    """Analysis D1: pct 10.395 is 10.4 in the code (np.round), 10.39 with Python's round."""
    summary = run(cpm, S + D, {"m": healthy(min_mdd=0.89605)})
    assert summary["eliminated"] == {"m": (pi.DRAWDOWN, 10.4)}


# -- 4. grace (a rules field; not in either preset) ----------------------------------------

GRACE = 1_759_363_200_000
GRACE_START = 1_748_736_000_000


@pytest.mark.parametrize(
    ("grace", "now", "eliminated"),
    [
        (GRACE, 1_759_276_800_000, False),  # the example: past 90 D, before the grace
        (GRACE, GRACE, False),
        (GRACE, GRACE + 1, True),
        (None, 1_759_276_800_000, True),  # the preset: no grace
        (None, GRACE_START + 90 * D, False),
    ],
)
def test_example_4_grace(grace: int | None, now: int, eliminated: bool) -> None:
    """The client takes rule-set names only, so the pure refresh runs the custom config."""
    config = dataclasses.replace(rules_config.PTN_2025_11, time_limit_grace_ms=grace)
    doc = pi.inputs(["m"], {"m": healthy(GRACE_START)})
    outcome = pure_refresh(
        {"m": MinerEntry(MinerBucket.CHALLENGE, GRACE_START)},
        {},
        frozenset(),
        parse_refresh_inputs(doc),
        now,
        config,
    )
    if eliminated:
        assert outcome.new_reasons == {"m": TIME}
        assert "m" not in outcome.miners
    else:
        assert outcome.new_reasons == {}
        assert outcome.miners["m"].bucket is MinerBucket.CHALLENGE


# -- 5. positions screen -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ruleset", "n_positions", "reason"),
    [
        (pi.PTN, 0, None),
        (pi.PTN, 1, (pi.DRAWDOWN, 15.0)),
        (pi.VANTA, 0, (pi.DRAWDOWN, 15.0)),
    ],
)
def test_example_5_positions_screen(
    cpm: ChallengePeriodManager, n_positions: int, reason: tuple[str, float] | None
) -> None:
    miners = {"m": healthy(min_mdd=0.85, n_positions=n_positions)}
    summary = run(cpm, S + D, miners)
    assert summary["eliminated"] == ({} if reason is None else {"m": reason})
    expected = MinerBucket.CHALLENGE if reason is None else None
    assert cpm.get_miner_bucket("m") is expected


# -- 6. re-registered ----------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("miner", "others", "expected"),
    [
        # Ledger start 500 < F: skipped, though late.
        (healthy(S, ledger_start_ms=500), {}, {}),
        # Ledger start == F: not re-registered (strict <).
        (healthy(S, ledger_start_ms=S), {}, {"m": TIME}),
        (healthy(S, ledger_start_ms=S - 1), {}, {}),
        # No F for the miner, another metagraph hotkey has one: skipped.
        (
            healthy(None, ledger_start_ms=500),
            {"o": pi.no_ledger(first_order_time_ms=S + 80 * D)},
            {},
        ),
        # No miner has any F: the check does not apply -> TIME.
        (healthy(None, ledger_start_ms=500), {"o": pi.no_ledger()}, {"m": TIME}),
    ],
)
def test_example_6_re_registered(
    cpm: ChallengePeriodManager,
    miner: dict[str, Any],
    others: dict[str, dict[str, Any]],
    expected: dict[str, Any],
) -> None:
    now = S + 90 * D + 1
    buckets = {"m": ("CHALLENGE", S)}
    # "o" joins at its F (S + 80 D) or at now: in time either way.
    summary = run(cpm, now, {"m": miner, **others}, buckets=buckets)
    assert summary["eliminated"] == expected
    if not expected:
        assert cpm.get_miner_bucket("m") is MinerBucket.CHALLENGE


# -- 7.-17. ranking ------------------------------------------------------------------------

NOW = S + 70 * D


def maincomp_linspace(n: int, prefix: str = "miner") -> dict[str, float]:
    return {f"{prefix}{i + 1}": v for i, v in enumerate(pi.linspace(1.0, 0.2, n))}


@ONLY_PTN
@pytest.mark.parametrize(
    ("challenger_days", "demoted"),
    [(30, ["miner25"]), (None, [])],  # None: no CHALLENGE/PROBATION miner at all
)
def test_example_7_ptn_lowest_maincomp_demoted(
    cpm: ChallengePeriodManager, challenger_days: int | None, demoted: list[str]
) -> None:
    main = maincomp_linspace(25)
    miners = {hk: healthy(days=61) for hk in main}
    if challenger_days is not None:
        miners["miner"] = healthy(days=challenger_days)
    summary = run(
        cpm,
        NOW,
        miners,
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=pi.scores({"crypto": main, "forex": main}, pi.P_WEIGHTS),
    )
    assert summary["promoted"] == []
    assert summary["demoted"] == demoted
    expected = MinerBucket.PROBATION if demoted else MinerBucket.MAINCOMP
    assert cpm.get_miner_bucket("miner25") is expected
    assert cpm.get_miner_bucket("miner24") is MinerBucket.MAINCOMP


@ONLY_PTN
@pytest.mark.parametrize(
    ("value", "days", "promoted", "demoted"),
    [
        (0.75, 61, ["miner"], ["miner25"]),
        (0.1, 61, [], []),
        (0.75, 60, [], ["miner25"]),  # not a candidate: MAINCOMP is ranked alone
    ],
)
def test_example_8_ptn_candidate(
    cpm: ChallengePeriodManager, value: float, days: int, promoted: list, demoted: list
) -> None:
    main = maincomp_linspace(25)
    miners = {hk: healthy(days=61) for hk in main}
    miners["miner"] = healthy(days=days)
    classes = {"crypto": {**main, "miner": value}, "forex": main}
    summary = run(
        cpm,
        NOW,
        miners,
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=pi.scores(classes, pi.P_WEIGHTS),
    )
    assert summary["promoted"] == promoted
    assert summary["demoted"] == demoted
    expected = MinerBucket.MAINCOMP if promoted else MinerBucket.CHALLENGE
    assert cpm.get_miner_bucket("miner") is expected


@pytest.mark.parametrize(
    ("ruleset", "days", "promoted", "demoted"),
    [
        (pi.PTN, 61, ["cand"], ["m5"]),
        (pi.PTN, 60, [], ["m5"]),
        (pi.VANTA, 61, ["cand"], []),
        (pi.VANTA, 60, [], []),  # ranked, not promotion-eligible
    ],
)
def test_example_9_five_maincomp(
    cpm: ChallengePeriodManager, days: int, promoted: list, demoted: list
) -> None:
    main = maincomp_linspace(5, "m")
    miners = {hk: healthy(days=61) for hk in main}
    miners["cand"] = healthy(days=days)
    summary = run(
        cpm,
        NOW,
        miners,
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=one_metric({**main, "cand": 0.5}),
    )
    assert summary["promoted"] == promoted
    assert summary["demoted"] == demoted
    for hotkey in demoted:
        assert cpm.get_miner_bucket(hotkey) is MinerBucket.PROBATION
        assert cpm.get_miner_start_time(hotkey) == NOW


def ledgerless_challenger() -> dict[str, dict[str, Any]]:
    """A CHALLENGE miner without a ledger: the inspection set is not empty ("pool present")."""
    return {"x": pi.no_ledger(first_order_time_ms=S, n_positions=1)}


@pytest.mark.parametrize(("ruleset", "demoted"), [(pi.PTN, ["a", "b", "c"]), (pi.VANTA, [])])
def test_example_10_ties(cpm: ChallengePeriodManager, demoted: list[str]) -> None:
    main = {"a": 0.5, "b": 0.5, "c": 0.5}
    summary = run(
        cpm,
        NOW,
        {**{hk: healthy() for hk in main}, **ledgerless_challenger()},
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=one_metric(main),
    )
    assert summary["demoted"] == demoted
    assert summary["promoted"] == []


@pytest.mark.parametrize(("ruleset", "demoted"), [(pi.PTN, ["b", "c"]), (pi.VANTA, ["c"])])
def test_example_11_penalty_zero(cpm: ChallengePeriodManager, demoted: list[str]) -> None:
    main = {"a": 3.0, "b": 2.0, "c": 1.0}
    summary = run(
        cpm,
        NOW,
        {**{hk: healthy() for hk in main}, **ledgerless_challenger()},
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=one_metric(main, penalties={"c": 0.0}),
    )
    assert summary["demoted"] == demoted
    assert cpm.get_miner_bucket("a") is MinerBucket.MAINCOMP


@pytest.mark.parametrize(("ruleset", "demoted"), [(pi.PTN, ["b", "z"]), (pi.VANTA, ["z"])])
def test_example_12_maincomp_without_ledger(
    cpm: ChallengePeriodManager, demoted: list[str]
) -> None:
    """z has no scoring ledger (so no score); in P the lowest scored b falls too."""
    scored = {"a": 2.0, "b": 1.0}
    miners = {"a": healthy(), "b": healthy(), "z": pi.no_ledger(first_order_time_ms=S)}
    summary = run(
        cpm,
        NOW,
        {**miners, **ledgerless_challenger()},
        buckets={hk: ("MAINCOMP", S) for hk in miners},
        scores=one_metric(scored),
    )
    assert summary["demoted"] == demoted
    assert cpm.get_miner_bucket("z") is MinerBucket.PROBATION


@ONLY_VANTA
@pytest.mark.parametrize(("days", "promoted"), [(30, []), (60, []), (61, ["miner"])])
def test_example_13_vanta_promotion_needs_61_days(
    cpm: ChallengePeriodManager, days: int, promoted: list[str]
) -> None:
    main = maincomp_linspace(25)
    miners = {hk: healthy(days=61) for hk in main}
    miners["miner"] = healthy(days=days)
    summary = run(
        cpm,
        NOW,
        miners,
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=pi.scores({"crypto": {**main, "miner": 0.75}}, pi.V_WEIGHTS),
    )
    assert summary["promoted"] == promoted
    # Ranked either way: miner25 is 26th.
    assert summary["demoted"] == ["miner25"]


@pytest.mark.parametrize(("ruleset", "demoted"), [(pi.VANTA, ["t26", "t27"]), (pi.PTN, ["t27"])])
def test_example_14_threshold_ties(cpm: ChallengePeriodManager, demoted: list[str]) -> None:
    main = {f"t{i + 1}": v for i, v in enumerate(pi.linspace(1.0, 0.3, 24))}
    main.update({"t25": 0.2, "t26": 0.2, "t27": 0.1})
    summary = run(
        cpm,
        NOW,
        {**{hk: healthy() for hk in main}, **ledgerless_challenger()},
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=one_metric(main),
    )
    assert summary["demoted"] == demoted


@ONLY_VANTA
@pytest.mark.parametrize(
    ("selections", "demoted"),
    [
        ({**pi.select_all(maincomp_linspace(25)), "miner5": "forex"}, []),
        ({hk: "crypto" for hk in maincomp_linspace(25) if hk != "miner5"}, ["miner5"]),
        ({}, []),
        # Analysis D15: a map with only an unrelated hotkey still turns the filter on.
        ({"old_deregistered_hk": "crypto"}, sorted(maincomp_linspace(25))),
    ],
)
def test_example_15_vanta_selections(
    cpm: ChallengePeriodManager, selections: dict[str, str], demoted: list[str]
) -> None:
    main = maincomp_linspace(25)
    summary = run(
        cpm,
        NOW,
        {**{hk: healthy() for hk in main}, **ledgerless_challenger()},
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=pi.scores({"crypto": main, "forex": main}, pi.V_WEIGHTS),
        asset_selections=selections,
    )
    assert summary["demoted"] == demoted
    for hotkey in demoted:
        assert cpm.get_miner_bucket(hotkey) is MinerBucket.PROBATION


@ONLY_VANTA
@pytest.mark.parametrize(
    ("now", "selections", "promoted"),
    [
        # The example: x has no selection, the others have one, now >= selection start.
        (pi.ASSET_SELECTION_START_MS, {"a": "crypto", "b": "crypto"}, []),
        # With a selection it is ranked and promoted.
        (pi.ASSET_SELECTION_START_MS, {"a": "crypto", "b": "crypto", "x": "crypto"}, ["x"]),
        # No selection map at all: nobody passes the gate from the start on ...
        (pi.ASSET_SELECTION_START_MS, None, []),
        # ... and one ms before it there is no gate and no filter.
        (pi.ASSET_SELECTION_START_MS - 1, None, ["x"]),
    ],
)
def test_example_16_vanta_selection_gate(
    cpm: ChallengePeriodManager,
    now: int,
    selections: dict[str, str] | None,
    promoted: list[str],
) -> None:
    first = pi.ASSET_SELECTION_START_MS - 80 * D
    miners = {"a": healthy(first), "b": healthy(first), "x": healthy(first, days=70)}
    summary = run(
        cpm,
        now,
        miners,
        buckets={"a": ("MAINCOMP", first), "b": ("MAINCOMP", first)},
        scores=one_metric({"x": 3.0, "a": 2.0, "b": 1.0}),
        asset_selections=selections,
    )
    assert summary["eliminated"] == {}
    assert summary["promoted"] == promoted
    assert summary["demoted"] == []
    expected = MinerBucket.MAINCOMP if promoted else MinerBucket.CHALLENGE
    assert cpm.get_miner_bucket("x") is expected


@pytest.mark.parametrize(
    ("ruleset", "scored", "demoted"),
    [
        (pi.VANTA, {"a": 1.0}, ["a"]),  # one pool member with a ledger: nobody is scored
        (pi.VANTA, {"a": 1.0, "b": 0.5}, []),
        (pi.PTN, {"a": 1.0}, []),  # alone in its class: percentile 1.0, softmax 1.0
    ],
)
def test_example_17_lone_pool(
    cpm: ChallengePeriodManager, scored: dict[str, float], demoted: list[str]
) -> None:
    summary = run(
        cpm,
        NOW,
        {**{hk: healthy() for hk in scored}, **ledgerless_challenger()},
        buckets={hk: ("MAINCOMP", S) for hk in scored},
        scores=one_metric(scored),
    )
    assert summary["demoted"] == demoted
    assert cpm.get_miner_bucket("a") is (MinerBucket.PROBATION if demoted else MinerBucket.MAINCOMP)


# -- 18. softmax ---------------------------------------------------------------------------


def test_example_18_softmax() -> None:
    """Pure: no client answer shows softmax values."""
    result = dict(softmax({"a": 0.9, "b": 0.5, "c": 0.0}, 0.15, 1e-6))
    assert result["a"] == pytest.approx(0.935030, abs=1e-6)
    assert result["b"] == pytest.approx(0.064969, abs=1e-6)
    assert result["c"] == 0.0


# -- 19. plagiarism ------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("age", "eliminated"), [(15 * D, True), (14 * D + 1, True), (14 * D, False)]
)
def test_example_19_plagiarism(cpm: ChallengePeriodManager, age: int, eliminated: bool) -> None:
    now = S + 30 * D
    miners = {"m": healthy()}
    summary = run(cpm, now, miners, buckets={"m": ("MAINCOMP", S)}, plagiarism={"m": now - age})
    assert summary.get("plagiarism") == ["m"]
    if eliminated:
        assert summary["eliminated"] == {"m": (pi.PLAGIARISM, -1)}
        assert cpm.get_miner_bucket("m") is None
        return
    assert summary["eliminated"] == {}
    assert cpm.get_snapshot()["miners"]["m"] == {
        "bucket": "PLAGIARISM",
        "bucket_start_time": now,
        "previous_bucket": "MAINCOMP",
        "previous_bucket_start_time": S,
    }
    # The flag is cleared later: back to (MAINCOMP, S).
    summary = run(cpm, now + D, miners, plagiarism={})
    assert summary.get("plagiarism") == ["m"]
    assert cpm.get_snapshot()["miners"]["m"] == {
        "bucket": "MAINCOMP",
        "bucket_start_time": S,
        "previous_bucket": None,
        "previous_bucket_start_time": None,
    }


# -- analysis D8 / D9: a flagged hotkey that joins in the same refresh ----------------------


@BOTH
@pytest.mark.parametrize(
    ("first", "flag_age", "reason"),
    [
        # D8: joins at F = now - 91 D (TIME), flagged 20 D ago: PLAGIARISM wins.
        (-91 * D, 20 * D, (pi.PLAGIARISM, -1)),
        # D9: in time, flagged 20 D ago: joins, then eliminated in the same refresh.
        (-10 * D, 20 * D, (pi.PLAGIARISM, -1)),
        # Flagged 5 D ago: joins as CHALLENGE; late, it gets TIME (not a plagiarism reason).
        (-91 * D, 5 * D, TIME),
    ],
)
def test_d8_d9_plagiarism_wins_for_a_joining_hotkey(
    cpm: ChallengePeriodManager, first: int, flag_age: int, reason: tuple[str, int]
) -> None:
    now = S + 200 * D
    summary = run(cpm, now, {"x": healthy(now + first)}, plagiarism={"x": now - flag_age})
    assert summary["added"] == ["x"]
    assert summary["eliminated"] == {"x": reason}
    assert cpm.get_all_elimination_reasons() == {"x": reason}
    assert cpm.get_miner_bucket("x") is None


@BOTH
def test_d9_recent_flag_moves_at_the_next_refresh(cpm: ChallengePeriodManager) -> None:
    now = S + 200 * D
    first = now - 10 * D
    miners = {"x": healthy(first)}
    summary = run(cpm, now, miners, plagiarism={"x": now - 5 * D})
    assert summary["eliminated"] == {}
    assert cpm.get_miner_bucket("x") is MinerBucket.CHALLENGE
    assert cpm.get_miner_start_time("x") == first
    summary = cpm.refresh_now(current_time_ms=now + 1)
    assert cpm.get_snapshot()["miners"]["x"] == {
        "bucket": "PLAGIARISM",
        "bucket_start_time": now + 1,
        "previous_bucket": "CHALLENGE",
        "previous_bucket_start_time": first,
    }
    assert summary["eliminated"] == {}


# -- analysis D15: an unrelated selection turns the class filter on -------------------------


@ONLY_VANTA
@pytest.mark.parametrize(
    ("selections", "demoted"),
    [
        ({"old_deregistered_hk": "crypto"}, ["a", "b", "c"]),
        (None, []),  # not given: no filter (and before the selection start, no gate)
        ({}, []),
    ],
)
def test_d15_unrelated_selection_demotes_all_maincomp(
    cpm: ChallengePeriodManager, selections: dict[str, str] | None, demoted: list[str]
) -> None:
    main = {"a": 3.0, "b": 2.0, "c": 1.0}
    summary = run(
        cpm,
        NOW,
        {**{hk: healthy() for hk in main}, **ledgerless_challenger()},
        buckets={hk: ("MAINCOMP", S) for hk in main},
        scores=one_metric(main),
        asset_selections=selections,
    )
    assert summary["demoted"] == demoted
    for hotkey in main:
        expected = MinerBucket.PROBATION if hotkey in demoted else MinerBucket.MAINCOMP
        assert cpm.get_miner_bucket(hotkey) is expected
