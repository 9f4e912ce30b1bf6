"""The elimination side's inputs as changes: made from any document to the next, they
rebuild it exactly, order included; changes that do not fit what is held are refused and
the whole document is taken instead; a client asking an older service gets whole inputs."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from clients import ChallengePeriodManager, EliminationManager
from clients.transport import MockTransport
from services.domain.inputs_changes import (
    InputsChanges,
    SequenceChange,
    StaleChanges,
    apply_changes,
    apply_sequence_change,
    elimination_changes,
    elimination_digest,
    elimination_part,
    sequence_change,
)
from services.domain.refresh_inputs import RefreshInputs, parse_refresh_inputs
from services.wire.feed import decode_elimination_inputs
from tests.hosting import unknown_method

pytestmark = pytest.mark.timeout(60)

NOW = 1_700_000_000_000


def _facts(rng: random.Random) -> dict[str, Any]:
    return {
        "first_order_time_ms": rng.choice([None, rng.randrange(NOW)]),
        "n_positions": rng.randrange(5),
        "ledger_start_ms": rng.choice([None, rng.randrange(NOW)]),
        "n_checkpoints": rng.randrange(3),
        "min_mdd": rng.choice([None, 0.85, 0.95, 1.0]),
        "trading_days": rng.randrange(4),
    }


def _document(rng: random.Random, metagraph: list[str], miners: dict[str, Any]) -> RefreshInputs:
    dirs = rng.choice([None, sorted(miners), list(miners)[: len(miners) // 2]])
    return parse_refresh_inputs(
        {
            "metagraph_hotkeys": metagraph,
            "miners": miners,
            "miner_dir_hotkeys": dirs,
            "scores": {"crypto": {"metrics": {}, "penalties": {hk: 1.0 for hk in metagraph}}},
        }
    )


def _next(rng: random.Random, metagraph: list[str], miners: dict[str, Any], n: int) -> None:
    """One cycle of the churn a validator sees, each kind at random: a UID re-registered in
    place, hotkeys gone, new ones at the end or inside, the miners reordered, facts moved."""
    for _ in range(rng.randrange(4)):
        kind = rng.randrange(6)
        fresh = f"hk{n}-{rng.randrange(10**9)}"
        if kind == 0 and metagraph:
            i = rng.randrange(len(metagraph))
            miners.pop(metagraph[i], None)
            metagraph[i] = fresh
            miners[fresh] = _facts(rng)
        elif kind == 1 and metagraph:
            miners.pop(metagraph.pop(rng.randrange(len(metagraph))), None)
        elif kind == 2:
            metagraph.insert(rng.randrange(len(metagraph) + 1), fresh)
            miners[fresh] = _facts(rng)
        elif kind == 3:
            keys = list(miners)
            rng.shuffle(keys)
            reordered = {hk: miners[hk] for hk in keys}
            miners.clear()
            miners.update(reordered)
        elif kind == 4 and miners:
            miners[rng.choice(list(miners))] = _facts(rng)
        elif kind == 5:
            miners[fresh] = _facts(rng)  # a miner the validator has data for, not registered


def test_changes_rebuild_every_next_document_exactly_through_json() -> None:
    decoder = msgspec.json.Decoder(InputsChanges)
    for seed in range(200):
        rng = random.Random(seed)
        metagraph = [f"hk{i}" for i in range(rng.randrange(12))]
        miners = {hk: _facts(rng) for hk in metagraph}
        held = elimination_part(_document(rng, metagraph, miners))
        for n in range(8):
            _next(rng, metagraph, miners, n)
            new = _document(rng, list(metagraph), dict(miners))
            changes = decoder.decode(msgspec.json.encode(elimination_changes(n, held, new)))
            rebuilt = apply_changes(held, changes)
            assert rebuilt == elimination_part(new), (seed, n)
            assert list(rebuilt.miners) == list(new.miners)  # the order, not just the keys
            held = rebuilt


def test_a_few_changes_travel_as_positions_and_many_as_the_whole_sequence() -> None:
    old = tuple(f"hk{i}" for i in range(100))
    one_replaced = (*old[:7], "new", *old[8:])
    assert sequence_change(old, one_replaced) == SequenceChange(length=100, at=((7, "new"),))
    assert sequence_change(old, old) == SequenceChange(length=100)
    shifted = (*old[1:], "new")
    assert sequence_change(old, shifted) == SequenceChange(whole=shifted)


def test_hotkeys_that_left_and_joined_travel_as_drops_and_a_tail() -> None:
    old = tuple(f"hk{i}" for i in range(100))
    churned = (*old[:10], *old[11:40], *old[41:], "new1", "new2")
    change = sequence_change(old, churned, shifts=True)
    assert change == SequenceChange(length=100, drop=(10, 40), tail=("new1", "new2"))
    assert apply_sequence_change(old, change) == churned
    # A receiver from before drops and tails gets the whole sequence.
    assert sequence_change(old, churned) == SequenceChange(whole=churned)
    # The fields it does not know are not sent when unused.
    assert msgspec.json.encode(sequence_change(old, old)) == b'{"length":100}'
    # Many moves: the whole sequence is smaller.
    reordered = old[::-1]
    assert sequence_change(old, reordered, shifts=True) == SequenceChange(whole=reordered)
    with pytest.raises(StaleChanges, match="dropping position 120 of 100"):
        apply_sequence_change(old, SequenceChange(length=100, drop=(120,)))


def test_unchanged_miners_are_not_sent() -> None:
    rng = random.Random(1)
    metagraph = [f"hk{i}" for i in range(50)]
    miners = {hk: _facts(rng) for hk in metagraph}
    old = _document(rng, metagraph, miners)
    miners["hk3"] = {**miners["hk3"], "min_mdd": 0.5}
    changes = elimination_changes(4, old, _document(rng, metagraph, miners))
    assert list(changes.miners) == ["hk3"]
    assert changes.miner_keys is None  # the miners' keys are the metagraph's
    assert changes.metagraph == SequenceChange(length=50)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (SequenceChange(length=3), "a change for 3 hotkeys, 2 held"),
        (SequenceChange(length=2, at=((5, "x"),)), "position 5 of 2"),
        (SequenceChange(length=2, at=((0, "x"),)), "no facts for miner 'x'"),
        (SequenceChange(length=2, at=((0, "b"),)), "do not match the miners' keys"),
    ],
)
def test_changes_that_do_not_fit_the_document_held_are_refused(
    change: SequenceChange, why: str
) -> None:
    facts = _facts(random.Random(0))
    held = parse_refresh_inputs(
        {"metagraph_hotkeys": ["a", "b"], "miners": {"a": facts, "b": facts}}
    )
    changes = InputsChanges(base=1, metagraph=change, miner_keys=None, miners={}, miner_dirs=None)
    with pytest.raises(StaleChanges, match=why):
        apply_changes(held, changes)


def test_the_precise_decoder_reads_changes_too() -> None:
    """The fallback decoder (taken here for an int past 64 bits in ``since``, which only
    plain JSON reads) gives the same changes as the fast one."""
    rng = random.Random(2)
    old = _document(rng, ["a", "b"], {"a": _facts(rng), "b": _facts(rng)})
    new = _document(rng, ["a", "c"], {"a": _facts(rng), "c": _facts(rng)})
    changes = elimination_changes(1, old, new)
    text = json.dumps(
        {
            "since": ["e", 2**70, 1],
            "ruleset": "vanta-2025-12",
            "maincomp": [],
            "changes": json.loads(msgspec.json.encode(changes)),
        }
    )
    assert decode_elimination_inputs(text)["changes"] == changes
    bad = text.replace('"base"', '"bsae"')
    with pytest.raises(Exception, match="changes"):
        decode_elimination_inputs(bad)


def _held(em: EliminationManager) -> RefreshInputs | None:
    inputs: RefreshInputs | None = em.direct_server._peer.inputs
    return inputs


def test_the_elimination_service_holds_what_the_validator_submitted_after_each_round(
    tmp_path: Path,
) -> None:
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
    )
    asked: list[str] = []
    source = em.direct_server._peer.source
    real = source.get_elimination_changes

    def counting(since: list[object] | None = None) -> dict[str, object] | None:
        reply = real(since)
        asked.append("changes" if reply and "changes" in reply else "whole")
        return reply

    source.get_elimination_changes = counting
    try:
        rng = random.Random(7)
        metagraph = [f"hk{i}" for i in range(30)]
        miners = {hk: _facts(rng) for hk in metagraph}
        for n in range(12):
            document = {"metagraph_hotkeys": list(metagraph), "miners": dict(miners)}
            cpm.submit_refresh_inputs(document)
            em.process_eliminations(NOW + n)
            assert _held(em) == elimination_part(parse_refresh_inputs(document))
            _next(rng, metagraph, miners, n)
        assert asked[0] == "whole" and asked.count("changes") >= 10
    finally:
        em.close()
        cpm.close()


def test_changes_from_another_base_are_refused_and_the_whole_inputs_taken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
    )
    try:
        metagraph = [f"hk{i}" for i in range(8)]
        cpm.submit_refresh_inputs({"metagraph_hotkeys": metagraph, "miners": {}})
        em.process_eliminations(NOW)
        # What the elimination side holds is not what the other side last sent it.
        peer = em.direct_server._peer
        peer.inputs = parse_refresh_inputs({"metagraph_hotkeys": ["z", "y"], "miners": {}})
        metagraph[3] = "new"  # one position: sent as a change to eight hotkeys
        document = {"metagraph_hotkeys": metagraph, "miners": {}}
        cpm.submit_refresh_inputs(document)
        with caplog.at_level(logging.WARNING, logger="cpm.elimination"):
            em.process_eliminations(NOW + 1)
        assert "do not fit the inputs held" in caplog.text
        assert _held(em) == elimination_part(parse_refresh_inputs(document))
    finally:
        em.close()
        cpm.close()


def test_changes_that_rebuild_other_inputs_are_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault in the rebuilding (here a metagraph hotkey dropped in passing) must not
    make the elimination service judge zombies on a metagraph the validator did not send:
    the digest that comes with the changes tells, and the whole inputs are taken."""
    from services.shells import elimination_peer

    real = elimination_peer.apply_changes

    def faulty(old: RefreshInputs, changes: InputsChanges) -> RefreshInputs:
        rebuilt = real(old, changes)
        return msgspec.structs.replace(rebuilt, metagraph_hotkeys=rebuilt.metagraph_hotkeys[1:])

    cpm = ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path / "cpm")
    em = EliminationManager(
        running_unit_tests=True, state_dir=tmp_path / "em", challengeperiod_manager=cpm
    )
    try:
        rng = random.Random(3)
        metagraph = [f"hk{i}" for i in range(20)]
        miners = {hk: _facts(rng) for hk in metagraph}
        cpm.submit_refresh_inputs({"metagraph_hotkeys": list(metagraph), "miners": miners})
        em.process_eliminations(NOW)
        monkeypatch.setattr(elimination_peer, "apply_changes", faulty)
        for n in range(3):
            _next(rng, metagraph, miners, n)
            document = {"metagraph_hotkeys": list(metagraph), "miners": dict(miners)}
            cpm.submit_refresh_inputs(document)
            with caplog.at_level(logging.ERROR, logger="cpm.elimination"):
                em.process_eliminations(NOW + 1 + n)
            assert _held(em) == elimination_part(parse_refresh_inputs(document)), n
        assert em.direct_server._peer.mismatched == 3
        assert "made other inputs than it holds" in caplog.text
        samples = em.direct_server.metrics_sample()
        assert samples["cpm_mismatched_inputs_changes"][1] == 3
    finally:
        em.close()
        cpm.close()


def test_the_changes_come_with_the_digest_of_what_they_make(tmp_path: Path) -> None:
    with ChallengePeriodManager(running_unit_tests=True, state_dir=tmp_path) as cpm:
        first = {"metagraph_hotkeys": ["a", "b", "c"], "miners": {}}
        cpm.submit_refresh_inputs(first)
        whole = cpm.get_elimination_changes(None)
        assert whole is not None and "digest" not in whole  # whole inputs need none
        second = {"metagraph_hotkeys": ["a", "x", "c"], "miners": {}}
        cpm.submit_refresh_inputs(second)
        reply = cpm.get_elimination_changes(whole["since"])
        assert reply is not None and "changes" in reply
        assert reply["digest"] == elimination_digest(parse_refresh_inputs(second))
        rebuilt = apply_changes(whole["inputs"], reply["changes"])
        assert elimination_digest(rebuilt) == reply["digest"]


def test_a_client_asking_an_older_service_for_changes_gets_the_whole_inputs() -> None:
    asked: list[str] = []
    answer = '{"since":["e",1,1],"ruleset":"vanta-2025-12","maincomp":[],"inputs":null}'

    def older_service(method: str, args: tuple[object, ...]) -> object:
        asked.append(method)
        if method == "get_elimination_inputs_rpc":
            return answer
        raise unknown_method("ChallengePeriodManagerServer", method)

    cpm = ChallengePeriodManager(transport=MockTransport(older_service))
    reply = cpm.get_elimination_changes(["e", 0, 0])
    assert reply is not None and reply["inputs"] is None
    assert asked == ["get_elimination_changes_rpc", "get_elimination_inputs_rpc"]
