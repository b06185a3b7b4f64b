"""The benchmark suite runs end to end on a tiny configuration, with or without the peers."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

import corpus
import peers
import run

SECTIONS = ["## Targets (issues 6 and 21)", "## 1. Decision time: Anzupgo", "## 2. History scaling",
            "## 3. Compile scaling", "## 4. Cold start"]


def test_the_quick_bench_writes_every_section_without_the_peers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As without the `bench` extra: no peer package importable, so no peer row.
    monkeypatch.setattr(peers, "zen_decision", lambda: None)
    monkeypatch.setattr(peers, "cedar_deciders", dict)
    monkeypatch.setattr(peers, "rego_decision", lambda: None)
    out = tmp_path / "RESULTS.md"
    assert run.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    assert "Machine: " in text and "cores" in text
    assert "generated (`dqm_policies.evaluate`" in text and "IR interpreter" in text
    assert "hand-written floor (the same full decision" in text
    assert "zen-engine, JSON" not in text and "cedarpy, " not in text
    assert "1 (dqm_policies.anzupgo_dqm_v0000)" in text  # the cold start loaded one module
    assert re.search(r"\|\s+yes \|", text)  # the targets a tiny run can judge are judged


def test_the_peers_that_are_installed_agree_with_the_hand_written_answer() -> None:
    contexts = [peers.peer_input(channel, override, quantity, window)
                for (channel, override) in peers.LIMITS for quantity in (10, 30, 90, 180)
                for window in (0, 25, 60)]
    zen, rego, cedar = peers.zen_decision(), peers.rego_decision(), peers.cedar_deciders()
    for context in contexts:
        expected = peers.hand_outcome(context)
        if zen is not None:
            answer = zen(context)
            assert (answer["outcome"], answer["max_allowed"]) == (expected["outcome"],
                                                                   expected["max_allowed"])
        for decide in cedar.values():
            assert decide(peers.cedar_request(context)) == (expected["outcome"] == "paid")
        if rego is not None:
            shown = rego(json.dumps(context)).replace(" ", "")
            assert f'"{expected["outcome"]}",{expected["max_allowed"]}' in shown


def test_corpus_variants_are_distinct_policies_that_compile(tmp_path: Path) -> None:
    from dqmc.lang.pipeline import compile_paths

    pool = corpus.templates()
    assert {t.policy_id for t in pool} >= {"anzupgo-dqm", "bcbsal-ql-guidelines"}
    paths = corpus.write_corpus(len(pool) + 2, tmp_path, pool)
    result = compile_paths(paths)
    assert result.ok, [d.concise() for d in result.diagnostics if d.is_error]
    assert len({c.policy.id for c in result.compiled}) == len(paths)
