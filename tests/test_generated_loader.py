"""The in-process loader of generated evaluators: one module per generated text, none half-built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO

from dqmc.codegen import loader as generated_loader
from dqmc.lang.pipeline import compile_paths


def test_equal_ir_from_another_file_gets_its_own_module(tmp_path: Path) -> None:
    text = (REPO / "policy_specs/anzupgo.dqm").read_text(encoding="utf-8")
    moved = tmp_path / "moved.dqm"
    moved.write_text("\n\n" + text, encoding="utf-8")  # the same IR, two lines further down
    first = compile_paths([REPO / "policy_specs/anzupgo.dqm"]).compiled
    second = compile_paths([moved]).compiled
    assert first[0].content_hash == second[0].content_hash
    a, b = generated_loader.load_generated(first), generated_loader.load_generated(second)
    assert a is not b
    assert generated_loader.load_generated(first) is a  # the same text is imported once
    claim = {"claim_id": "c1", "product": "anzupgo-2pct-cream", "quantity": "90", "unit": "g",
             "days_supply": 30, "date_of_service": "2026-01-10", "channel": "retail"}
    assert a.evaluate(claim)["trace"][0]["source"] == "policy_specs/anzupgo.dqm:3"
    assert b.evaluate(claim)["trace"][0]["source"].endswith("moved.dqm:5")


def test_a_failing_import_leaves_no_half_built_module(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"dqm_policies/__init__.py": "from . import missing_module\n"}
    monkeypatch.setattr(generated_loader, "emitted_files", lambda compiled: files)
    name = f"_dqmc_generated_{generated_loader.files_digest(files)}"
    for _ in range(2):  # the second attempt fails the same way instead of returning a husk
        with pytest.raises(ImportError):
            generated_loader.load_generated([])
        assert name not in sys.modules
