"""Effective-dated versions (docs/semantics.md §2.7): each claim decided by the version of its
policy in force on its date of service, each review by the one in force on its request date."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from dqmc import interpreter
from dqmc.cli.main import main
from dqmc.codegen.loader import load_generated
from dqmc.lang.diagnostics import has_errors
from dqmc.lang.pipeline import compile_paths

ANZUPGO = "policy_specs/anzupgo.dqm"
KEPT = "policy_specs/history/anzupgo-dqm/2025-11-11.dqm"
# The claim of issue 19: 60 g at retail, paid under the version in force through 11/11/2025
# (60 g per 30 days), rejected 76 under the revision of 11/12/2025 (30 g per 30 days).
CLAIM = {"claim_id": "x", "date_of_service": "2025-11-01", "product": "anzupgo-2pct-cream",
         "quantity": "60", "unit": "g", "days_supply": 30, "channel": "retail"}
LATER = dict(CLAIM, date_of_service="2025-11-12")


@pytest.fixture(scope="module")
def anzupgo():
    result = compile_paths([ANZUPGO])
    assert result.ok
    (compiled,) = result.compiled
    return compiled


def _hashes(anzupgo) -> tuple[str, str]:
    (kept,) = anzupgo.earlier
    assert kept.source == KEPT and kept.last_day == dt.date(2025, 11, 11)
    assert kept.content_hash != anzupgo.content_hash
    return kept.content_hash, anzupgo.content_hash


def _assert_issue_claim(before: dict, after: dict, anzupgo) -> None:
    old_hash, live_hash = _hashes(anzupgo)
    assert (before["outcome"], before["reject_code"], before["messages"]) == (
        "paid", None, ["QL 60 G PER 30 DAYS"])
    assert (after["outcome"], after["reject_code"], after["messages"]) == (
        "rejected", "76", ["QL 30 G PER 30 DAYS", "MAX ALLOWED NOW 30 G"])
    assert (before["policy_id"], after["policy_id"]) == ("anzupgo-dqm", "anzupgo-dqm")
    assert (before["policy_hash"], after["policy_hash"]) == (old_hash, live_hash)
    assert before["trace"][1] == {
        "step": "version", "result": "info",
        "detail": "date of service 2025-11-01: the version in force through 2025-11-11",
        "source": f"{KEPT}:6"}
    assert after["trace"][1] == {
        "step": "version", "result": "info",
        "detail": "date of service 2025-11-12: the version in force from 2025-11-12",
        "source": f"{ANZUPGO}:3"}


@pytest.mark.parametrize("interpret", [False, True], ids=["generated", "interpreter"])
def test_the_issue_claim_through_dqmc_eval(interpret: bool, anzupgo, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    claims = tmp_path / "claims.jsonl"
    claims.write_text(f"{json.dumps(CLAIM)}\n{json.dumps(LATER)}\n", encoding="utf-8")
    assert main(["eval", ANZUPGO, "--claims", str(claims),
                 *(["--interpret"] if interpret else [])]) == 0
    before, after = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    _assert_issue_claim(before, after, anzupgo)


def test_the_issue_claim_through_the_built_package(anzupgo) -> None:
    """`import dqm_policies` from generated/: routed by date, importing only that version."""
    script = (
        "import json, sys\n"
        "import dqm_policies\n"
        "claim = json.loads(sys.argv[1])\n"
        "decision = dqm_policies.evaluate(claim)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('dqm_policies.')\n"
        "                and not m.startswith('dqm_policies._runtime'))\n"
        "print(json.dumps({'decision': decision, 'loaded': loaded}))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "generated/python"))
    seen = []
    for claim in (CLAIM, LATER):
        run = subprocess.run([sys.executable, "-c", script, json.dumps(claim)], cwd=REPO,
                             env=env, capture_output=True, text=True, check=True)
        seen.append(json.loads(run.stdout))
    _assert_issue_claim(seen[0]["decision"], seen[1]["decision"], anzupgo)
    # Cold start stays lazy: an old claim loads the old version's module, not the live one.
    assert seen[0]["loaded"] == ["dqm_policies.anzupgo_dqm__2025_11_11"]
    assert seen[1]["loaded"] == ["dqm_policies.anzupgo_dqm"]


def test_the_issue_claim_through_the_interpreter(anzupgo) -> None:
    _assert_issue_claim(interpreter.evaluate_many([anzupgo], CLAIM),
                        interpreter.evaluate_many([anzupgo], LATER), anzupgo)
    _assert_issue_claim(interpreter.evaluate_policy(anzupgo, CLAIM),
                        interpreter.evaluate_policy(anzupgo, LATER), anzupgo)
    # One version by itself decides every claim whatever its date, as its module does.
    assert interpreter.evaluate(anzupgo, CLAIM)["outcome"] == "rejected"


@pytest.mark.parametrize("interpret", [False, True], ids=["generated", "interpreter"])
def test_as_of_forces_one_version(interpret: bool, anzupgo, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    old_hash, live_hash = _hashes(anzupgo)
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(CLAIM), encoding="utf-8")
    flags = ["--interpret"] if interpret else []
    assert main(["eval", ANZUPGO, "--claims", str(claims), "--as-of", "2026-01-01", *flags]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert (decision["outcome"], decision["policy_hash"]) == ("rejected", live_hash)
    assert decision["trace"][0] == {
        "step": "version", "result": "info",
        "detail": "as of 2026-01-01: the version in force from 2025-11-12",
        "source": f"{ANZUPGO}:3"}
    claims.write_text(json.dumps(LATER), encoding="utf-8")
    assert main(["eval", ANZUPGO, "--claims", str(claims), "--as-of", "2025-11-11", *flags]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert (decision["outcome"], decision["policy_hash"]) == ("paid", old_hash)


@pytest.mark.parametrize("as_of", ["2025-13-01", "2025-1-01", "20251101", "soon"])
def test_as_of_must_be_a_date(as_of: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(CLAIM), encoding="utf-8")
    assert main(["eval", ANZUPGO, "--claims", str(claims), "--as-of", as_of]) == 2
    assert "write a date as YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize("interpret", [False, True], ids=["generated", "interpreter"])
def test_a_review_is_decided_by_the_version_of_its_request_date(
        interpret: bool, anzupgo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old_hash, live_hash = _hashes(anzupgo)
    request = {"policy": "anzupgo-dqm", "product": "anzupgo-2pct-cream",
               "request_date": "2025-11-11",
               "facts": {"needs_more": True, "diagnosis": "chronic_hand_eczema",
                         "severity": "severe", "sites": ["hands"]}}
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps(request) + "\n"
                        + json.dumps(dict(request, request_date="2025-11-12")) + "\n",
                        encoding="utf-8")
    assert main(["review", ANZUPGO, "--request", str(requests),
                 *(["--interpret"] if interpret else [])]) == 0
    before, after = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    # The version through 11/11/2025 had no exception criteria: nothing approves more.
    assert (before["outcome"], before["policy_hash"], before["approved"]) == (
        "denied", old_hash, [])
    assert (after["outcome"], after["policy_hash"], after["criterion"]) == (
        "approved", live_hash, "additional-quantity")


# -- a policy with three versions and a first day ------------------------------------------------


def _spec(policy_id: str, effective: str | None, grams: int) -> str:
    return (f'policy {policy_id} "T" {{\n  type per_days\n'
            + (f"  effective_date {effective}\n" if effective else "")
            + '  product cream {\n    brand "Brand"\n    generic "generic"\n    form "cream"\n'
            '    package tube-30g 30 g "30 gram tube" as tube\n  }\n'
            '  fact severe: bool "Is it severe?"\n'
            '  criterion more "More" {\n    when severe\n'
            f'    approve cream {{ retail {grams * 2} g per 30 days }}\n  }}\n'
            f'  limit cream {{\n    retail {grams} g per 30 days\n  }}\n}}\n')


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory):
    """ver-p: 90 g from 2025-01-01 through 2025-03-31, 60 g through 2025-06-30, then 30 g
    (the live spec, from 2025-07-01)."""
    folder = tmp_path_factory.mktemp("versions")
    kept = folder / "history" / "ver-p"
    kept.mkdir(parents=True)
    (kept / "2025-03-31.dqm").write_text(_spec("ver-p", "2025-01-01", 90), encoding="utf-8")
    (kept / "2025-06-30.dqm").write_text(_spec("ver-p", None, 60), encoding="utf-8")
    (folder / "ver-p.dqm").write_text(_spec("ver-p", "2025-07-01", 30), encoding="utf-8")
    result = compile_paths([folder / "ver-p.dqm"])
    assert result.ok, result.diagnostics
    (compiled,) = result.compiled
    return compiled, load_generated([compiled])


def _claim(day: str, grams: str = "45") -> dict:
    return {"claim_id": "c", "date_of_service": day, "product": "cream", "quantity": grams,
            "unit": "g", "days_supply": 30, "channel": "retail"}


def test_versions_are_dated_by_file_names_and_effective_dates(three) -> None:
    compiled, _ = three
    assert [(v.first_day, v.last_day) for v in compiled.versions] == [
        (dt.date(2025, 1, 1), dt.date(2025, 3, 31)),
        (dt.date(2025, 4, 1), dt.date(2025, 6, 30)),
        (dt.date(2025, 7, 1), None)]
    assert compiled.version_on(dt.date(2024, 12, 31)) is None
    assert compiled.version_on(dt.date(2025, 3, 31)) is compiled.earlier[0]
    assert compiled.version_on(dt.date(2025, 4, 1)) is compiled.earlier[1]
    assert compiled.version_on(dt.date(2025, 7, 1)) is compiled


@pytest.mark.parametrize("day, outcome, version", [
    ("2025-01-01", "paid", 0), ("2025-03-31", "paid", 0), ("2025-04-01", "paid", 1),
    ("2025-06-30", "paid", 1), ("2025-07-01", "rejected", 2), ("2026-02-28", "rejected", 2)])
def test_each_claim_is_decided_by_the_version_in_force_on_its_date(three, day: str,
                                                                   outcome: str,
                                                                   version: int) -> None:
    compiled, registry = three
    claim = _claim(day, "75" if version == 0 else "45")  # 75 g: over 60 g, within 90 g
    for decision in (registry.evaluate(claim), interpreter.evaluate_many([compiled], claim),
                     registry.evaluate_policy("ver-p", claim),
                     interpreter.evaluate_policy(compiled, claim)):
        assert decision["outcome"] == outcome
        assert decision["policy_hash"] == compiled.versions[version].content_hash
        assert decision["trace"][1]["step"] == "version"


def test_a_claim_before_the_first_version_is_not_applicable(three) -> None:
    compiled, registry = three
    claim = _claim("2024-12-31")
    decision = registry.evaluate(claim)
    assert decision == interpreter.evaluate_many([compiled], claim)
    assert decision == registry.evaluate_policy("ver-p", claim)
    assert (decision["outcome"], decision["policy_id"], decision["policy_hash"]) == (
        "not_applicable", "ver-p", compiled.versions[0].content_hash)
    assert decision["trace"][1]["detail"] == (
        "date of service 2024-12-31 is before ver-p took effect on 2025-01-01")
    # A malformed claim is refused as malformed, whatever its date says.
    bad = dict(claim, quantity="-1")
    assert registry.evaluate(bad)["reject_code"] == "E7"
    assert registry.evaluate(bad) == interpreter.evaluate_many([compiled], bad)


def test_the_live_version_declines_claims_it_does_not_decide(three) -> None:
    """Once the live version is loaded the registry tries it first: every older day must
    still reach its own version, or none before the first."""
    compiled, registry = three
    assert registry.evaluate(_claim("2025-08-01"))["policy_hash"] == compiled.content_hash
    for day, version in (("2025-06-30", 1), ("2025-04-01", 1), ("2025-03-31", 0),
                         ("2025-01-01", 0), ("2024-12-31", None)):
        decision = registry.evaluate(_claim(day))
        assert decision == interpreter.evaluate_many([compiled], _claim(day))
        if version is None:
            assert decision["outcome"] == "not_applicable"
        else:
            assert decision["policy_hash"] == compiled.versions[version].content_hash
            assert decision["trace"][1]["detail"].startswith(f"date of service {day}: ")


def test_a_single_version_with_an_effective_date_routes_by_it(tmp_path: Path) -> None:
    (tmp_path / "one.dqm").write_text(_spec("one-p", "2025-07-01", 30), encoding="utf-8")
    result = compile_paths([tmp_path / "one.dqm"])
    assert result.ok, result.diagnostics
    (compiled,) = result.compiled
    registry = load_generated([compiled])
    for day, outcome in (("2025-07-01", "paid"), ("2025-06-30", "not_applicable"),
                         ("2025-07-02", "paid"), ("2024-01-01", "not_applicable")):
        claim = _claim(day, "30")
        decision = registry.evaluate(claim)
        assert decision == interpreter.evaluate_many([compiled], claim)
        assert decision["outcome"] == outcome


def test_a_product_only_a_kept_version_lists_is_decided_by_that_version(tmp_path: Path
                                                                        ) -> None:
    """A late claim for a product the policy has since dropped goes to the policy, and the
    version in force on its date decides it."""
    kept = tmp_path / "history" / "drop-p"
    kept.mkdir(parents=True)
    ointment = ('  product ointment {\n    brand "Brand"\n    generic "generic"\n'
                '    form "ointment"\n    unit g\n  }\n'
                '  limit ointment {\n    retail 15 g per 30 days\n  }\n')
    old = _spec("drop-p", None, 60)
    (kept / "2025-06-30.dqm").write_text(old[:old.rindex("}")] + ointment + "}\n",
                                         encoding="utf-8")
    (tmp_path / "drop-p.dqm").write_text(_spec("drop-p", None, 30), encoding="utf-8")
    result = compile_paths([tmp_path / "drop-p.dqm"])
    assert result.ok, result.diagnostics
    (compiled,) = result.compiled
    registry = load_generated([compiled])
    late = dict(_claim("2025-06-01", "15"), product="ointment")
    decision = registry.evaluate(late)
    assert decision == interpreter.evaluate_many([compiled], late)
    assert (decision["outcome"], decision["policy_hash"]) == (
        "paid", compiled.earlier[0].content_hash)
    over = dict(late, quantity="16")
    assert registry.evaluate(over)["outcome"] == "rejected"
    assert registry.evaluate(over) == interpreter.evaluate_many([compiled], over)
    now = dict(late, date_of_service="2025-07-01")
    decision = registry.evaluate(now)
    assert decision == interpreter.evaluate_many([compiled], now)
    assert (decision["outcome"], decision["policy_id"], decision["policy_hash"]) == (
        "not_applicable", "drop-p", compiled.content_hash)
    request = {"product": "ointment", "request_date": "2025-06-01", "facts": {"severe": True}}
    answer = registry.review(request)
    assert answer == interpreter.review_many([compiled], request)
    assert answer["policy_hash"] == compiled.earlier[0].content_hash


def test_a_review_before_the_first_version_needs_another_date(three) -> None:
    compiled, registry = three
    request = {"policy": "ver-p", "product": "cream", "request_date": "2024-06-01",
               "facts": {"severe": True}}
    answer = registry.review(request)
    assert answer == interpreter.review_many([compiled], request)
    assert (answer["outcome"], answer["policy_hash"]) == ("needs_information",
                                                          compiled.versions[0].content_hash)
    assert answer["invalid"] == [{"field": "request_date", "reason":
                                  "request date 2024-06-01 is before ver-p took effect on "
                                  "2025-01-01"}]
    for day, version in (("2025-02-01", 0), ("2025-05-01", 1), ("2025-08-01", 2)):
        answer = registry.review(dict(request, request_date=day))
        assert answer == interpreter.review_many([compiled], dict(request, request_date=day))
        assert answer["outcome"] == "approved"
        assert answer["policy_hash"] == compiled.versions[version].content_hash


def test_both_evaluators_route_every_day_alike(three) -> None:
    """Differential: the registry (dates compared as text) and the interpreter (as dates)."""
    compiled, registry = three
    start = dt.date(2024, 12, 25)
    for offset in range(0, 400, 3):
        day = start + dt.timedelta(days=offset)
        for claim in (_claim(day.isoformat()), _claim(day.isoformat(), "75"),
                      dict(_claim(day.isoformat()), date_of_service=day)):
            assert registry.evaluate(claim) == interpreter.evaluate_many([compiled], claim)
    # Dates that are not dates are refused (15) by both, never routed to a version.
    for text in ("2025-02-30", "2025-13-01", "20250301", "2025-03-01T00:00", "", None):
        claim = dict(_claim("2025-03-01"), date_of_service=text)
        decision = registry.evaluate(claim)
        assert (decision["reject_code"], decision["policy_id"]) == ("15", None)
        assert decision == interpreter.evaluate_many([compiled], claim)


def test_as_of_before_the_first_version_is_refused(three) -> None:
    compiled, registry = three
    with pytest.raises(ValueError, match="took effect on 2025-01-01"):
        registry.evaluate_policy("ver-p", _claim("2025-05-01"), as_of="2024-01-01")
    with pytest.raises(ValueError, match="took effect on 2025-01-01"):
        interpreter.evaluate_policy(compiled, _claim("2025-05-01"), as_of=dt.date(2024, 1, 1))
    forced = registry.evaluate_policy("ver-p", _claim("2024-01-01", "75"), as_of="2025-03-01")
    assert forced == interpreter.evaluate_policy(compiled, _claim("2024-01-01", "75"),
                                                 as_of=dt.date(2025, 3, 1))
    assert (forced["outcome"], forced["policy_hash"]) == ("paid",
                                                          compiled.versions[0].content_hash)


def test_impact_replays_each_side_alone(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`dqmc impact --old KEPT --new LIVE`: the live side is the live spec even for claims
    dated before it took effect, or the replay would compare the old version with itself."""
    claims = tmp_path / "claims.jsonl"
    claims.write_text(json.dumps(dict(CLAIM, member_id="m1", status="paid")) + "\n",
                      encoding="utf-8")
    code = main(["impact", "--old", KEPT, "--new", ANZUPGO, "--claims", str(claims),
                 "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["claims"], report["changed"], report["paid_to_rejected"]) == (1, 1, 1)


# -- checks --------------------------------------------------------------------------------------


def test_kept_versions_must_be_the_same_policy_one_file_a_day(tmp_path: Path) -> None:
    from dqmc.lang.pipeline import compile_text
    from dqmc.lang.printers.yaml_emit import emit_yaml

    kept = tmp_path / "history" / "ver-q"
    kept.mkdir(parents=True)
    (kept / "2025-03-31.dqm").write_text(_spec("ver-other", None, 90), encoding="utf-8")
    (kept / "2025-06-30.dqm").write_text(_spec("ver-q", None, 60), encoding="utf-8")
    twin = compile_text("x.dqm", _spec("ver-q", None, 60)).policy
    assert twin is not None
    (kept / "2025-06-30.yaml").write_text(emit_yaml(twin), encoding="utf-8")
    (kept / "2025-07-31.yaml").write_text("not: a policy\n", encoding="utf-8")
    (tmp_path / "ver-q.dqm").write_text(_spec("ver-q", None, 30), encoding="utf-8")
    result = compile_paths([tmp_path / "ver-q.dqm"])
    assert has_errors(result.diagnostics) and result.compiled == []
    found = {(d.code, Path(d.span.file).name) for d in result.diagnostics}
    assert ("policy.duplicate-id", "2025-03-31.dqm") in found  # another policy
    assert ("version.overlap", "2025-06-30.yaml") in found  # a second file for one version
    assert any(name == "2025-07-31.yaml" and code.startswith("schema.")
               for code, name in found)  # a kept version that does not compile
    # `dqmc check` reports them all, and fails.
    run = subprocess.run([sys.executable, "-m", "dqmc", "check", str(tmp_path / "ver-q.dqm")],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1 and "version.overlap" in run.stdout


def test_the_live_document_links_the_version_it_replaced() -> None:
    markdown = (REPO / "generated/docs/anzupgo-dqm.md").read_text(encoding="utf-8")
    html = (REPO / "generated/docs/anzupgo-dqm.html").read_text(encoding="utf-8")
    assert "[in force through 11/11/2025](anzupgo-dqm/2025-11-11.md)" in markdown
    assert '<a href="anzupgo-dqm/2025-11-11.html">in force through' in html
    kept = (REPO / "generated/docs/anzupgo-dqm/2025-11-11.html").read_text(encoding="utf-8")
    assert "60 grams" in kept or "60 g" in kept
    assert '<a href="../anzupgo-dqm.html">The current policy</a>' in kept
    assert 'href="../index.html"' in kept


def test_dated_decisions_and_answers_keep_the_data_contracts(three) -> None:
    """The version step, a not_applicable before the first version (policy id, no hash) and a
    review refused for its date are all what docs/contracts.md promises."""
    import jsonschema

    from dqmc.codegen.contracts import schema_path

    def validator(name: str) -> jsonschema.Draft202012Validator:
        schema = json.loads(schema_path(name).read_text(encoding="utf-8"))
        return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())

    _, registry = three
    decisions = validator("decision")
    for day in ("2024-12-31", "2025-02-01", "2025-05-01", "2025-08-01"):
        for decision in (registry.evaluate(_claim(day)),
                         registry.evaluate_policy("ver-p", _claim(day), as_of="2025-02-01")):
            assert not list(decisions.iter_errors(decision)), decision
    answer = registry.review({"policy": "ver-p", "request_date": "2024-01-01", "facts": {}})
    assert not list(validator("review").iter_errors(answer)), answer
