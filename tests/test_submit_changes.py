"""The client submits the change from the inputs the service holds: made from any document
to the next, it rebuilds the next one exactly, order included; a change made from other
inputs (another client's, or from before a restart) is refused and the whole document sent;
a malformed one changes nothing."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from clients import ChallengePeriodManager
from services.domain.errors import InvalidInputError
from services.domain.inputs_changes import SequenceChange, StaleChanges, inputs_digest
from services.domain.refresh_inputs import (
    EMPTY_INPUTS,
    RefreshInputs,
    encode_refresh_inputs_packed,
    parse_refresh_inputs,
)
from services.domain.submit_changes import (
    ClassChange,
    KeyedValues,
    SubmitChanges,
    apply_submit_changes,
    decode_submit_changes,
    encode_submit_changes,
    submit_changes,
)
from tests.processes import start_cpm_server
from tests.test_inputs_changes import NOW, _facts, _next
from tools.bench_data import ValidatorWorkload

pytestmark = pytest.mark.timeout(60)


def _scores(
    rng: random.Random, hotkeys: list[str], miners: dict[str, Any]
) -> dict[str, Any] | None:
    """Asset classes whose metrics score the metagraph, a part of it, it reordered, or the
    miners (whose keys change from cycle to cycle as the metagraph's do)."""
    if rng.random() < 0.1:
        return None

    def some() -> dict[str, float]:
        keys = rng.choice(
            [hotkeys, hotkeys[::-1], rng.sample(hotkeys, len(hotkeys) // 2), list(miners)]
        )
        return {hk: rng.choice([0.0, -1.5, rng.random()]) for hk in keys}

    classes = rng.sample(["crypto", "forex", "equities"], rng.randrange(1, 3))
    return {
        name: {
            "metrics": {
                metric: {"weight": rng.random(), "scores": some()}
                for metric in rng.sample(["pnl", "sharpe", "calmar"], rng.randrange(3))
            },
            "penalties": rng.choice([{}, some()]),
        }
        for name in classes
    }


def _document(rng: random.Random, metagraph: list[str], miners: dict[str, Any]) -> RefreshInputs:
    return parse_refresh_inputs(
        {
            "metagraph_hotkeys": metagraph,
            "miners": miners,
            "scores": _scores(rng, metagraph, miners),
            "plagiarism": rng.choice([None, {}, {hk: NOW for hk in metagraph[:2]}]),
            "asset_selections": rng.choice([None, {hk: "crypto" for hk in metagraph[:3]}]),
            "miner_dir_hotkeys": rng.choice([None, sorted(miners), list(miners)[::2]]),
        }
    )


def _through_msgpack(changes: SubmitChanges) -> SubmitChanges:
    data = encode_submit_changes(changes)
    assert data is not None
    return decode_submit_changes(data)


def _same(a: RefreshInputs, b: RefreshInputs) -> bool:
    """Equal, order of every mapping and list included (scoring ties fall by order)."""
    return msgspec.json.encode(a) == msgspec.json.encode(b)


def test_changes_rebuild_every_next_document_exactly_through_msgpack() -> None:
    for seed in range(300):
        rng = random.Random(seed)
        metagraph = [f"hk{i}" for i in range(rng.randrange(12))]
        miners = {hk: _facts(rng) for hk in metagraph}
        first = _document(rng, metagraph, miners)
        held = apply_submit_changes(
            EMPTY_INPUTS, _through_msgpack(submit_changes(None, 0, EMPTY_INPUTS, first))
        )
        assert _same(held, first), seed
        for n in range(8):
            _next(rng, metagraph, miners, n)
            new = _document(rng, list(metagraph), dict(miners))
            changes = _through_msgpack(submit_changes("epoch", n, held, new))
            rebuilt = apply_submit_changes(held, changes)
            assert _same(rebuilt, new), (seed, n)
            held = rebuilt


def test_scores_keyed_like_the_metagraph_go_as_values_only() -> None:
    rng = random.Random(3)
    metagraph = [f"hk{i}" for i in range(20)]
    old = _document(rng, metagraph, {hk: _facts(rng) for hk in metagraph})
    new = parse_refresh_inputs(
        {
            "metagraph_hotkeys": metagraph,
            "miners": {hk: msgspec.structs.asdict(f) for hk, f in old.miners.items()},
            "scores": {
                "crypto": {
                    "metrics": {"pnl": {"weight": 1.0, "scores": {hk: 0.5 for hk in metagraph}}},
                    "penalties": {},
                }
            },
            "plagiarism": old.plagiarism,
            "asset_selections": old.asset_selections,
            "miner_dir_hotkeys": old.miner_dir_hotkeys,
        }
    )
    changes = submit_changes("e", 1, old, new)
    assert changes.scores is not None
    assert changes.scores["crypto"].metrics["pnl"].scores == KeyedValues(None, (0.5,) * 20)
    assert changes.core.miners == {}  # no miner's facts moved
    assert changes.plagiarism_same or old.plagiarism is None


def test_a_change_that_repeats_a_hotkey_is_refused() -> None:
    held = parse_refresh_inputs({"metagraph_hotkeys": ["a", "b"], "miners": {}})
    changes = submit_changes("e", 1, held, held)
    repeated = msgspec.structs.replace(
        changes,
        core=msgspec.structs.replace(
            changes.core, metagraph=SequenceChange(length=2, at=((1, "a"),))
        ),
    )
    with pytest.raises(InvalidInputError, match="name a hotkey twice"):
        apply_submit_changes(held, repeated)
    short = ClassChange(metrics={}, penalties=KeyedValues(None, (1.0,)))
    with pytest.raises(StaleChanges, match="1 values for 2 keys"):
        apply_submit_changes(held, msgspec.structs.replace(changes, scores={"crypto": short}))


def _held(cpm: ChallengePeriodManager) -> RefreshInputs | None:
    inputs: RefreshInputs | None = cpm.direct_server._inputs
    return inputs


def _workload(seed: int) -> tuple[random.Random, list[str], dict[str, Any]]:
    rng = random.Random(seed)
    metagraph = [f"hk{i}" for i in range(40)]
    return rng, metagraph, {hk: _facts(rng) for hk in metagraph}


def _wire(doc: RefreshInputs) -> dict[str, Any]:
    wire: dict[str, Any] = msgspec.to_builtins(doc)
    return wire


def test_the_service_holds_each_document_the_client_submitted(tmp_path: Path) -> None:
    calls: list[str] = []
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        server = cpm.direct_server
        real = server.submit_checked_refresh_changes_rpc

        def counting(changes: bytes, digest: int) -> list[Any] | None:
            decoded = decode_submit_changes(changes)
            calls.append("whole" if decoded.epoch is None else "changes")
            return real(changes, digest)

        server.submit_checked_refresh_changes_rpc = counting
        rng, metagraph, miners = _workload(5)
        for n in range(10):
            document = _document(rng, list(metagraph), dict(miners))
            seq = cpm.submit_refresh_inputs(_wire(document))
            held = _held(cpm)
            assert seq == n + 1 and held is not None and _same(held, document)
            _next(rng, metagraph, miners, n)
    assert calls == ["whole"] + ["changes"] * 9


def test_two_clients_alternating_each_hand_over_what_they_mean(tmp_path: Path) -> None:
    """Each client's change is made from its own last document; the other's submit in
    between makes it stale, so the whole document goes, and the service holds it."""
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as first:
        second = ChallengePeriodManager(transport=first._transport)
        rng, metagraph, miners = _workload(9)
        for n in range(6):
            for client in (first, second):
                document = _document(rng, list(metagraph), dict(miners))
                client.submit_refresh_inputs(_wire(document))
                held = _held(first)
                assert held is not None and _same(held, document), n
                _next(rng, metagraph, miners, n)


def test_changes_from_before_a_restart_are_refused_and_the_whole_document_sent(
    ns_port: int, tmp_path: Path
) -> None:
    """The restarted service holds no inputs and numbers them from 1 again, so only its new
    epoch tells the client's change apart from one made from what it holds."""
    rng, metagraph, miners = _workload(11)
    first = start_cpm_server(ns_port, tmp_path)
    try:
        with ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as cpm:
            for _ in range(3):
                cpm.submit_refresh_inputs(_wire(_document(rng, list(metagraph), dict(miners))))
            first.kill()
            second = start_cpm_server(ns_port, tmp_path)
            try:
                # Another client takes the restarted service to the same seq, with the
                # same hotkeys and other facts: a change made before the restart would fit.
                with ChallengePeriodManager(ns_port=ns_port, timeout_s=5.0) as other:
                    other_facts = {hk: _facts(rng) for hk in miners}
                    for _ in range(3):
                        other.submit_refresh_inputs(
                            {"metagraph_hotkeys": list(metagraph), "miners": other_facts}
                        )
                cpm.has_miner("hk0")  # a read: retried on the restarted service
                for n in range(3):
                    document = _document(rng, list(metagraph), dict(miners))
                    assert cpm.submit_refresh_inputs(_wire(document)) == n + 4
                    answer = cpm.get_elimination_inputs(None)
                    assert answer is not None
                    assert answer["inputs"].metagraph_hotkeys == document.metagraph_hotkeys
                    assert list(answer["inputs"].miners.items()) == list(document.miners.items())
                    miners[metagraph[n]] = _facts(rng)  # one miner's facts move
            finally:
                second.close()
    finally:
        first.close()


def test_changes_that_do_not_fit_are_refused_and_change_nothing(tmp_path: Path) -> None:
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        server = cpm.direct_server
        rng, metagraph, miners = _workload(2)
        document = _document(rng, metagraph, miners)
        cpm.submit_refresh_inputs(_wire(document))
        epoch, seq, _ = cpm._submitter.submitted or ("", 0, None)
        digest = inputs_digest(document)
        submit = server.submit_checked_refresh_changes_rpc
        # Made from other inputs than the service holds: answered None, nothing kept.
        other = parse_refresh_inputs({"metagraph_hotkeys": ["x"], "miners": {}})
        stale = encode_submit_changes(submit_changes(epoch, seq + 1, other, other))
        assert submit(stale, digest) is None
        stale = encode_submit_changes(submit_changes("another", seq, other, other))
        assert submit(stale, digest) is None
        # Made from these inputs but not fitting them: refused the same way.
        bad = submit_changes(epoch, seq, document, document)
        bad = msgspec.structs.replace(
            bad, core=msgspec.structs.replace(bad.core, metagraph=SequenceChange(length=3))
        )
        assert submit(encode_submit_changes(bad), digest) is None
        # Called as the daemon calls it: our errors leave as the builtin ones they extend.
        with pytest.raises(ValueError, match="changes must be msgpack bytes, got str"):
            submit("{}", digest)
        with pytest.raises(ValueError, match=r"inputs changes: .*core"):
            submit(msgspec.msgpack.encode({"epoch": None}), digest)
        for not_a_digest in (None, -1, 1 << 32, True, "1"):
            with pytest.raises(ValueError, match="digest must be a CRC-32"):
                submit(
                    encode_submit_changes(submit_changes(epoch, seq, document, document)),
                    not_a_digest,
                )
        held = _held(cpm)
        assert held is not None and _same(held, document) and server._inputs_seq == seq


def test_a_submit_that_comes_while_a_change_is_applied_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is applied outside the lock; a whole document kept meanwhile is not
    overwritten by a document made from the inputs before it."""
    from services.shells import challengeperiod_exchange

    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        server = cpm.direct_server
        rng, metagraph, miners = _workload(4)
        cpm.submit_refresh_inputs(_wire(_document(rng, metagraph, miners)))
        meanwhile = _document(rng, metagraph[:5], {})
        real = challengeperiod_exchange.apply_submit_changes

        def slow_apply(old: RefreshInputs, changes: SubmitChanges) -> RefreshInputs:
            server._keep_inputs(meanwhile, None)
            return real(old, changes)

        monkeypatch.setattr(challengeperiod_exchange, "apply_submit_changes", slow_apply)
        assert cpm.submit_refresh_inputs(_wire(_document(rng, metagraph, miners))) == 4
        # The change was refused, the whole document then went (and won: it came last).
        held = _held(cpm)
        assert held is not None and held.metagraph_hotkeys == tuple(metagraph)
        assert server._inputs_seq == 4


def test_a_service_given_changes_decides_as_one_given_whole_documents(tmp_path: Path) -> None:
    """The same validator cycles, one service fed by the client's changes and one by whole
    documents: every refresh gives the same summary and the same buckets."""
    workload = ValidatorWorkload(300, seed=3)
    with (
        ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "a") as changes,
        ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "b") as whole,
    ):
        server = whole.direct_server
        decided = 0
        for cycle in range(15):
            document, now = workload.inputs(), workload.now(cycle)
            changes.submit_refresh_inputs(document)
            packed = encode_refresh_inputs_packed(parse_refresh_inputs(document))
            server.submit_packed_refresh_inputs_rpc(packed)
            summary, expected = changes.refresh_now(now), whole.refresh_now(now)
            summary.pop("duration_ms")
            expected.pop("duration_ms")
            assert summary == expected, cycle
            assert changes.get_snapshot()["miners"] == whole.get_snapshot()["miners"]
            decided += sum(len(summary[k]) for k in ("promoted", "demoted", "eliminated"))
            workload.advance()
        assert changes._submitter.submitted is not None
        assert changes._submitter.submitted[1] == 15
        assert decided > 0  # the cycles promote, demote or eliminate somebody


def test_a_change_that_rebuilds_another_document_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault in the rebuilding (here one score changed in passing) must not make the
    service decide on a document the validator did not check: the digest tells, the change
    is refused and logged, and the whole document goes by the independent packed path."""
    from services.shells import challengeperiod_exchange

    real = challengeperiod_exchange.apply_submit_changes

    def faulty(old: RefreshInputs, changes: SubmitChanges) -> RefreshInputs:
        rebuilt = real(old, changes)
        miners = dict(rebuilt.miners)
        hotkey = next(iter(miners))
        was = miners[hotkey]
        miners[hotkey] = msgspec.structs.replace(was, n_positions=was.n_positions + 1)
        return msgspec.structs.replace(rebuilt, miners=miners)

    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        server = cpm.direct_server
        rng, metagraph, miners = _workload(6)
        cpm.submit_refresh_inputs(_wire(_document(rng, metagraph, miners)))
        monkeypatch.setattr(challengeperiod_exchange, "apply_submit_changes", faulty)
        for n in range(3):
            _next(rng, metagraph, miners, n)
            document = _document(rng, list(metagraph), dict(miners))
            assert cpm.submit_refresh_inputs(_wire(document)) == n + 2
            held = _held(cpm)
            assert held is not None and _same(held, document), n
        # The first submit sent the change, then the change from nothing; the next ones,
        # after a packed document, only the change from nothing. All were rebuilt wrong.
        assert server.inputs_changes_mismatched == 4
        assert server.inputs_changes_refused == 4
        assert "made another document than the client's" in caplog.text
        assert cpm._submitter.submitted is None  # the packed document went
        monkeypatch.setattr(challengeperiod_exchange, "apply_submit_changes", real)
        document = _document(rng, list(metagraph), dict(miners))
        assert cpm.submit_refresh_inputs(_wire(document)) == 5
        assert cpm._submitter.submitted is not None  # changes again, once they rebuild right


def test_equal_documents_have_equal_digests_and_a_changed_one_another() -> None:
    rng, metagraph, miners = _workload(8)
    document = _document(rng, metagraph, miners)
    again = parse_refresh_inputs(_wire(document))
    assert inputs_digest(document) == inputs_digest(again) is not None
    hotkey = metagraph[0]
    moved = dict(document.miners)
    moved[hotkey] = msgspec.structs.replace(
        moved[hotkey], trading_days=moved[hotkey].trading_days + 1
    )
    assert inputs_digest(msgspec.structs.replace(document, miners=moved)) != inputs_digest(document)
    reordered = msgspec.structs.replace(
        document, metagraph_hotkeys=document.metagraph_hotkeys[::-1]
    )
    assert inputs_digest(reordered) != inputs_digest(document)
    huge = dict(document.miners)
    huge[hotkey] = msgspec.structs.replace(huge[hotkey], n_positions=2**70)
    assert inputs_digest(msgspec.structs.replace(document, miners=huge)) is None
