"""`dqmc diff`: the IR-level diff, its sentences and verdicts, revision summaries and --against."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from dqmc.lang.ir import nodes
from dqmc.lang.pipeline import compile_paths, compile_text
from dqmc.revisions import diff, direction

LIVE = Path("policy_specs/anzupgo.dqm")
BEFORE = Path("policy_specs/history/anzupgo-dqm/2025-11-11.dqm")

RETAIL = ("Anzupgo (delgocitinib 2% cream): retail limit changed from 60 grams per 30 days to "
          "30 grams per 30 days.")
HOME = ("Anzupgo (delgocitinib 2% cream): home delivery limit changed from 180 grams per 90 days "
        "to 90 grams per 90 days.")


def policy_at(path: Path) -> nodes.Policy:
    result = compile_paths([path])
    assert result.ok, result.diagnostics
    return result.compiled[0].policy


def policy_from(text: str, name: str = "edited.dqm") -> nodes.Policy:
    result = compile_text(name, text)
    assert result.policy is not None and not [d for d in result.diagnostics
                                              if d.severity.value == "error"], result.diagnostics
    return result.policy


def live_text() -> str:
    return LIVE.read_text(encoding="utf-8")


def edited(old: str, new: str) -> nodes.Policy:
    text = live_text()
    assert old in text
    return policy_from(text.replace(old, new))


def run_cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    diff.add_arguments(parser)
    code = diff.run(parser.parse_args(list(argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the Anzupgo revision ----------------------------------------------------------------------


def test_anzupgo_revision_in_plain_words() -> None:
    result = diff.diff_policies(policy_at(BEFORE), policy_at(LIVE))
    summary = result.sentences(summary=True)
    assert summary[:2] == [RETAIL, HOME]
    criterion = next(s for s in summary if s.startswith("New criterion"))
    assert "“Additional quantity for moderate to severe chronic hand eczema”" in criterion
    assert ("approve 60 grams per 30 days at retail and 180 grams per 90 days at home delivery "
            "for Anzupgo (delgocitinib 2% cream), for 1 year") in criterion
    assert criterion.endswith("these were the limits before this revision.")
    assert summary[-1] == ("For Anzupgo (delgocitinib 2% cream) at retail and home delivery, the "
                           "new version is stricter at the point of service and looser on "
                           "exception review.")
    # The facts only the new criterion asks, the review date and the history row are in the
    # full list but not in a history row's summary.
    everything = result.sentences()
    assert "The review date changed from none to 11/12/2025." in everything
    assert not any("review question" in s or "Revision row" in s for s in summary)


def test_anzupgo_revision_verdicts_and_json() -> None:
    data = diff.diff_policies(policy_at(BEFORE), policy_at(LIVE)).to_data()
    verdicts = {(v["target"], v["channel"]): (v["point_of_service"], v["on_review"])
                for v in data["verdicts"]}
    assert verdicts == {("anzupgo-2pct-cream", "retail"): ("stricter", "looser"),
                        ("anzupgo-2pct-cream", "home_delivery"): ("stricter", "looser")}
    limits = [c for c in data["changes"] if c["area"] == "limit"]
    assert [(c["key"], c["old"]["quantity"]["amount"], c["new"]["quantity"]["amount"], c["effect"])
            for c in limits] == [
        (["anzupgo-2pct-cream", "retail", "per_window"], "60", "30", "stricter"),
        (["anzupgo-2pct-cream", "home_delivery", "per_window"], "180", "90", "stricter")]
    added = [c for c in data["changes"] if c["area"] == "criterion"]
    assert [(c["kind"], c["key"], c["effect"]) for c in added] == [
        ("added", ["additional-quantity"], "looser")]
    json.dumps(data)  # JSON-ready all the way down


def test_reverse_direction_is_looser() -> None:
    result = diff.diff_policies(policy_at(LIVE), policy_at(BEFORE))
    assert {(v.point_of_service, v.on_review) for v in result.verdicts} == {("looser", "stricter")}
    assert any(s.startswith("Criterion “Additional quantity") and "was removed" in s
               for s in result.sentences(summary=True))


# -- what the diff ignores ---------------------------------------------------------------------


def test_yaml_and_dsl_spellings_are_identical() -> None:
    result = diff.diff_policies(policy_at(LIVE), policy_at(Path("policy_specs/anzupgo.yaml")))
    assert result.identical and result.sentences() == [] and result.to_data()["verdicts"] != []


def test_order_and_layout_do_not_matter() -> None:
    text = live_text()
    reordered = (text
                 .replace("    retail        30 g per 30 days\n"
                          "    home_delivery 90 g per 90 days\n",
                          "    home_delivery   90 g per 90 days\n\n\n"
                          "    retail 30 g per 30 days\n")
                 .replace("severity in {moderate, severe} and sites <= {hands, wrists}",
                          "sites <= {wrists, hands} and severity in {severe, moderate}"))
    fact_lines = [line for line in text.splitlines(keepends=True) if line.startswith("  fact ")]
    reordered = reordered.replace("".join(fact_lines), "".join(reversed(fact_lines)))
    assert reordered != text
    assert diff.diff_policies(policy_at(LIVE), policy_from(reordered)).identical



def test_the_word_an_each_count_is_written_in_is_not_a_change() -> None:
    spec = ('policy p "t" {{ type per_days product pills {{ brand "B" generic "g" '
            'form "tablet" unit each }} limit pills {{ all {} per 30 days }} }}')
    tablets, each = policy_from(spec.format("60 tablets")), policy_from(spec.format("60 each"))
    assert tablets.limits[0].rule.quantity.noun == "tablet"
    assert diff.diff_policies(tablets, each).identical
    assert not diff.diff_policies(tablets, policy_from(spec.format("61 tablets"))).identical

# -- effects of single edits -------------------------------------------------------------------


def verdict(result: diff.PolicyDiff, channel: str,
            target: str = "anzupgo-2pct-cream") -> tuple[str, str]:
    found = next(v for v in result.verdicts if (v.target, v.channel) == (target, channel))
    return found.point_of_service, found.on_review


def test_higher_limit_is_looser_and_a_burst_for_a_lower_rate_is_mixed() -> None:
    looser = diff.diff_policies(policy_at(LIVE), edited("retail        30 g per 30 days",
                                                       "retail        90 g per 30 days"))
    assert verdict(looser, "retail") == ("looser", "unchanged")
    assert verdict(looser, "home_delivery") == ("unchanged", "unchanged")
    assert looser.sentences(summary=True)[-1] == ("For Anzupgo (delgocitinib 2% cream) at "
                                                  "retail, the new version is looser.")
    # 40 g per 60 days allows more in one fill but less per day than 30 g per 30 days.
    mixed = diff.diff_policies(policy_at(LIVE), edited("retail        30 g per 30 days",
                                                      "retail        40 g per 60 days"))
    assert verdict(mixed, "retail") == ("mixed", "unchanged")
    assert mixed.sentences()[0] == ("Anzupgo (delgocitinib 2% cream): retail limit changed from "
                                    "30 grams per 30 days to 40 grams per 60 days.")


def test_a_new_rule_is_stricter_and_a_removed_rule_looser() -> None:
    added = edited("retail        30 g per 30 days",
                   "retail        30 g per 30 days\n    retail days supply <= 30")
    result = diff.diff_policies(policy_at(LIVE), added)
    assert verdict(result, "retail") == ("stricter", "unchanged")
    assert ("Anzupgo (delgocitinib 2% cream): retail limit of at most a 30-day supply per fill "
            "added.") in result.sentences()
    back = diff.diff_policies(added, policy_at(LIVE))
    assert verdict(back, "retail") == ("looser", "unchanged")


def test_a_hard_limit_is_stricter_on_review() -> None:
    result = diff.diff_policies(policy_at(LIVE), edited("retail        30 g per 30 days",
                                                       "retail        30 g per 30 days hard"))
    assert verdict(result, "retail") == ("unchanged", "stricter")
    assert "is now a hard limit" in result.sentences()[0]


def test_condition_changes_are_worded_per_fact_and_ranked() -> None:
    wider = diff.diff_policies(policy_at(LIVE), edited("severity in {moderate, severe}",
                                                      "severity in {mild, moderate, severe}"))
    assert verdict(wider, "retail") == ("unchanged", "looser")
    assert wider.sentences()[0] == (
        "Criterion “Additional quantity for moderate to severe chronic hand eczema” now requires "
        "Severity is one of: mild, moderate, severe (before: Severity is one of: moderate, "
        "severe).")
    dropped = diff.diff_policies(policy_at(LIVE), edited(" and sites <= {hands, wrists}", ""))
    assert verdict(dropped, "home_delivery") == ("unchanged", "looser")
    assert any(s.endswith("no longer requires: Sites are only: hands, wrists.")
               for s in dropped.sentences())
    regrouped = diff.diff_policies(policy_at(LIVE), edited(
        "when needs_more and diagnosis", "when (needs_more or severity == severe) and diagnosis"))
    assert verdict(regrouped, "retail") == ("unchanged", "unknown")


def test_approval_and_duration_changes() -> None:
    result = diff.diff_policies(policy_at(LIVE), edited("      retail        60 g per 30 days\n",
                                                       "      retail        90 g per 30 days\n"))
    assert verdict(result, "retail") == ("unchanged", "looser")
    assert result.sentences()[0] == (
        "Criterion “Additional quantity for moderate to severe chronic hand eczema” now approves "
        "90 grams per 30 days at retail for Anzupgo (delgocitinib 2% cream) (before: 60 grams per "
        "30 days).")
    shorter = diff.diff_policies(policy_at(LIVE), edited("approvals last 1 year",
                                                        "approvals last 6 months"))
    assert verdict(shorter, "retail") == ("unchanged", "stricter")
    assert "Approvals now last 6 months (before: 1 year)." in shorter.sentences(summary=True)


def test_products_added_and_described() -> None:
    text = live_text().replace(
        "  limit anzupgo-2pct-cream {",
        '  product extra-cream {\n    brand "Extra"\n    generic "extranol"\n    form "cream"\n'
        '    package jar-50g 50 g "50 gram jar"\n    ndc "12345678901"\n  }\n\n'
        "  limit extra-cream {\n    retail 50 g per 30 days\n  }\n\n"
        "  limit anzupgo-2pct-cream {").replace('brand "Anzupgo"', 'brand "Anzupgo®"')
    result = diff.diff_policies(policy_at(LIVE), policy_from(text))
    sentences = result.sentences()
    assert "New product: Extra (extranol cream), sold as 50 gram jar." in sentences
    assert "Extra (extranol cream): retail limit of 50 grams per 30 days added." in sentences
    assert any(s.startswith("Anzupgo® (delgocitinib 2% cream): the brand changed from “Anzupgo”")
               for s in sentences)
    assert verdict(result, "retail") == ("unchanged", "unchanged")  # Anzupgo's own row
    extra = next(v for v in result.verdicts if v.target == "extra-cream")
    assert (extra.channel, extra.point_of_service) == ("retail", "stricter")


def test_prose_and_references() -> None:
    policy = policy_at(LIVE)
    reference = policy.references[0].text
    text = live_text().replace('section dosing "Dosing" """\n',
                               'section dosing "Dosing" """\n    Store below 30 °C.\n')
    text = text.replace(f'reference "{reference}"', f'reference "{reference} Updated."')
    result = diff.diff_policies(policy, policy_from(text))
    assert result.sentences(summary=True) == [
        "The “Dosing” section was revised.",
        f"Reference added: {reference} Updated.",
        f"Reference removed: {reference}"]
    assert all(v.point_of_service == v.on_review == "unchanged" for v in result.verdicts)
    assert diff.diff_policies(policy, policy_from(text.replace("Store below 30 °C.\n", "")
                                                  .replace(" Updated.", ""))).identical


# -- revision history --------------------------------------------------------------------------


def test_history_file_is_the_pre_revision_policy() -> None:
    versions, problems = diff.load_history("anzupgo-dqm")
    assert problems == []
    assert [(v.last_day.isoformat(), v.source) for v in versions] == [
        ("2025-11-11", "policy_specs/history/anzupgo-dqm/2025-11-11.dqm")]
    before = versions[0].policy
    assert before.criteria == () and before.facts == ()
    rules = {(x.channel, x.rule.quantity.amount, x.rule.days) for x in before.limits}  # type: ignore[union-attr]
    assert rules == {("retail", 60, 30), ("home_delivery", 180, 90)}


def test_history_is_not_a_live_policy() -> None:
    compiled = compile_paths(["policy_specs"]).compiled
    assert [c.source for c in compiled if "history" in c.source] == []


def test_revision_summaries_per_consecutive_pair() -> None:
    before, live = policy_at(BEFORE), policy_at(LIVE)
    wider = edited("severity in {moderate, severe}", "severity in {mild, moderate, severe}")
    summaries = diff.revision_summaries([before, live, wider, wider])
    assert len(summaries) == 3
    # A history cell names the product in full once, then by its brand.
    short_home = HOME.replace("Anzupgo (delgocitinib 2% cream)", "Anzupgo")
    assert summaries[0].startswith(f"{RETAIL} {short_home} New criterion")
    assert summaries[0].count("Anzupgo (delgocitinib 2% cream)") == 1
    assert summaries[0].endswith("For Anzupgo at retail and home delivery, the new version is "
                                 "stricter at the point of service and looser on exception "
                                 "review.")
    assert "now requires Severity is one of: mild, moderate, severe" in summaries[1]
    assert summaries[2] == "No changes other than the review date and history."


def test_rows_without_a_summary_get_the_diff() -> None:
    policy = policy_at(LIVE)  # the live spec leaves its one revision row to the diff
    assert policy.history[0].summary is None
    versions, problems = diff.load_history("anzupgo-dqm")
    assert problems == [] and [v.last_day.isoformat() for v in versions] == ["2025-11-11"]
    found = diff.summaries_for_revisions(policy, versions)
    assert list(found) == [0] and found[0].startswith(RETAIL)
    # A row the author wrote keeps the author's words.
    text = live_text().replace('revision 2025-11-12 "New Policy"',
                               'revision 2025-11-12 "New Policy" "Written by hand."')
    assert diff.summaries_for_revisions(policy_from(text), versions) == {}


def test_the_published_history_row_is_the_diff() -> None:
    """The committed Anzupgo documents carry the generated summary in their history row."""
    versions, _ = diff.load_history("anzupgo-dqm")
    summary = diff.summaries_for_revisions(policy_at(LIVE), versions)[0]
    markdown = Path("generated/docs/anzupgo-dqm.md").read_text(encoding="utf-8")
    assert f"| New Policy | {summary} | 11/12/2025 |" in markdown
    assert "stricter at the point of service" in summary


def test_load_history_reports_misnamed_and_foreign_files(tmp_path: Path) -> None:
    folder = tmp_path / "anzupgo-dqm"
    folder.mkdir()
    (folder / "old.dqm").write_text(BEFORE.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "2024-01-01.dqm").write_text(
        BEFORE.read_text(encoding="utf-8").replace("policy anzupgo-dqm", "policy other-dqm"),
        encoding="utf-8")
    versions, problems = diff.load_history("anzupgo-dqm", tmp_path)
    assert versions == []
    assert sorted(p.message.split(":")[0].split(" ")[0] for p in problems) == [
        "2024-01-01.dqm", "old.dqm"]


# -- command line ------------------------------------------------------------------------------


def test_cli_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(str(BEFORE), str(LIVE), "--summary", capsys=capsys)
    assert code == 0 and out.splitlines()[:2] == [RETAIL, HOME] and "stricter" in out
    code, out, _ = run_cli(str(BEFORE), str(LIVE), "--format", "json", capsys=capsys)
    assert code == 0 and json.loads(out)["summary"][0] == RETAIL
    code, out, _ = run_cli(str(LIVE), "policy_specs/anzupgo.yaml", capsys=capsys)
    assert (code, out) == (0, "No changes: both versions state the same policy.\n")


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(LIVE), capsys=capsys)[0] == 2  # neither NEW nor --against
    assert run_cli(str(LIVE), str(LIVE), "--against", "HEAD", capsys=capsys)[0] == 2
    assert run_cli(str(LIVE), "no/such.dqm", capsys=capsys)[0] == 2
    broken = tmp_path / "broken.dqm"
    broken.write_text('policy p "T" {\n  type per_days\n  limit x {\n'
                      '    retail 1 g per 30 days\n  }\n}\n')
    code, _, err = run_cli(str(LIVE), str(broken), capsys=capsys)
    assert code == 1 and "limit.unknown-product" in err


def _in_git_checkout() -> bool:
    probe = subprocess.run(["git", "rev-parse", "HEAD:./policy_specs/anzupgo.dqm"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _in_git_checkout(), reason="needs a git checkout with history")
def test_against_a_git_revision_reads_the_committed_text(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = subprocess.run(["git", "show", "HEAD:policy_specs/anzupgo.dqm"],
                               capture_output=True, check=True).stdout
    copy = tmp_path / "anzupgo.dqm"
    copy.write_bytes(committed)
    code, via_git, _ = run_cli(str(LIVE), "--against", "HEAD", "--format", "json", capsys=capsys)
    assert code == 0
    code, via_file, _ = run_cli(str(copy), str(LIVE), "--format", "json", capsys=capsys)
    assert code == 0 and json.loads(via_git) == json.loads(via_file)
    code, _, err = run_cli(str(LIVE), "--against", "no-such-revision-xyz", capsys=capsys)
    assert code == 2 and "cannot read policy_specs/anzupgo.dqm at no-such-revision-xyz" in err


# -- `not covered` ------------------------------------------------------------------------------

_MAIL_POLICY = '''policy p "T" {
  type per_days
  channel mail "Mail"
  product cream {
    brand "Brand"
    generic "generic"
    form "cream"
    package tube-30g 30 g "30 gram tube" as tube
  }
  limit cream {
    retail 30 g per 30 days
    mail   90 g per 90 days
  }
}
'''


def test_a_channel_no_longer_covered_is_said_in_words() -> None:
    before = policy_from(_MAIL_POLICY)
    after = policy_from(_MAIL_POLICY.replace("mail   90 g per 90 days", "mail   not covered"))
    forward = diff.diff_policies(before, after)
    assert any(s.endswith("at mail is no longer covered: claims there are rejected.")
               for s in forward.sentences()), forward.sentences()
    assert any("mail limit of 90 grams per 90 days removed" in s for s in forward.sentences())
    backward = diff.diff_policies(after, before).sentences()
    assert any(s.endswith("at mail is no longer excluded as not covered.") for s in backward)


def test_prior_authorization_required_is_said_in_words_and_is_stricter() -> None:
    before = policy_from(_MAIL_POLICY)
    after = policy_from(_MAIL_POLICY.replace('    form "cream"\n',
                                             '    form "cream"\n    requires authorization\n'))
    result = diff.diff_policies(before, after)
    assert any(s.endswith("now needs prior authorization (claims without one are rejected with "
                          "75).") for s in result.sentences()), result.sentences()
    verdicts = {(v["target"], v["channel"]): v["point_of_service"]
                for v in result.to_data()["verdicts"]}
    assert set(verdicts.values()) == {"stricter"}, verdicts
    policy_wide = policy_from(_MAIL_POLICY.replace("  type per_days\n",
                                                   "  type per_days\n  requires authorization\n"))
    assert "All products of the policy now need prior authorization (claims without one are " \
           "rejected with 75)." in diff.diff_policies(before, policy_wide).sentences()


def test_an_implementation_date_is_said_in_words() -> None:
    before = policy_from(_MAIL_POLICY)
    after = policy_from(_MAIL_POLICY.replace("retail 30 g per 30 days",
                                             "retail 30 g per 30 days since 2026-01-01"))
    result = diff.diff_policies(before, after)
    assert any(s.endswith("now applies only from 01/01/2026 (before: on every date).")
               for s in result.sentences()), result.sentences()
    verdicts = {v["channel"]: v["point_of_service"] for v in result.to_data()["verdicts"]}
    assert verdicts.get("retail") == "looser", verdicts
    later = policy_from(_MAIL_POLICY.replace("retail 30 g per 30 days",
                                             "retail 30 g per 30 days since 2026-06-01"))
    assert any(s.endswith("now applies from 01/01/2026 (before: from 06/01/2026).")
               for s in diff.diff_policies(later, after).sentences())


def test_approving_the_quantity_requested_is_said_in_words_and_is_looser() -> None:
    text = _MAIL_POLICY.replace("}\n}\n", '}\n  fact more: bool "More?"\n'
                                '  criterion c {\n    when more\n    approve cream {\n'
                                '      retail 60 g per 30 days\n    }\n  }\n}\n')
    before = policy_from(text)
    after = policy_from(text.replace("approve cream {\n      retail 60 g per 30 days\n    }",
                                     "approve requested"))
    forward = diff.diff_policies(before, after)
    assert any(s.endswith("now approves the quantity requested.") for s in forward.sentences()), \
        forward.sentences()
    backward = diff.diff_policies(after, before).sentences()
    assert any(s.endswith("no longer approves the quantity requested.") for s in backward)


@pytest.mark.parametrize("before, after, effect", [
    ("", "    for renewal requests\n", direction.STRICTER),
    ("    for initial requests\n", "", direction.LOOSER),
    ("    for initial requests\n", "    for renewal requests\n", direction.UNKNOWN),
])
def test_which_requests_a_criterion_serves_is_said_in_words(before: str, after: str,
                                                            effect: str) -> None:
    text = _MAIL_POLICY.replace("}\n}\n", '}\n  fact more: bool "More?"\n'
                                '  criterion c {\nFOR    when more\n    approve cream {\n'
                                '      retail 60 g per 30 days\n    }\n  }\n}\n')
    result = diff.diff_policies(policy_from(text.replace("FOR", before)),
                                policy_from(text.replace("FOR", after)))
    [change] = [c for c in result.changes if c.field == "serves"]
    assert change.effect == effect
    assert "now serves" in change.sentence, change.sentence


def test_month_dates_are_said_as_months_and_order_before_their_days() -> None:
    text = _MAIL_POLICY.replace("}\n}\n", '}\n  revision REV "New Policy"\n}\n')
    before = policy_from(text.replace("REV", "2020-07"))
    after = policy_from(text.replace("REV", "2020-07-15"))
    sentences = diff.diff_policies(before, after).sentences()
    assert "Revision row July 2020 (New Policy) removed." in sentences
    assert "Revision row 07/15/2020 (New Policy) added." in sentences
    dated = dataclasses.replace(before, review_date=nodes.Month(2020, 7))
    assert "The review date changed from July 2020 to none." in \
        diff.diff_policies(dated, before).sentences()
    # a month precedes every day within it, and follows the days of the months before
    assert sorted([dt.date(2020, 7, 1), nodes.Month(2020, 7), dt.date(2020, 6, 30)],
                  key=nodes.date_key) == [dt.date(2020, 6, 30), nodes.Month(2020, 7),
                                          dt.date(2020, 7, 1)]
    assert nodes.Month(2020, 7) < dt.date(2020, 7, 1)
    assert dt.date(2020, 6, 30) < nodes.Month(2020, 7)
    # "after the review date" only when surely so, whatever day the month stands for
    assert not nodes.surely_after(dt.date(2020, 7, 31), nodes.Month(2020, 7))
    assert nodes.surely_after(dt.date(2020, 8, 1), nodes.Month(2020, 7))


def test_a_revision_in_the_review_month_is_not_after_it_and_the_next_month_is() -> None:
    text = _MAIL_POLICY.replace("}\n}\n", '}\n  revision REV "New Policy"\n}\n').replace(
        "type per_days", "type per_days\n  review_date 2020-07")
    assert policy_from(text.replace("REV", "2020-07-31")).review_date == nodes.Month(2020, 7)
    result = compile_text("edited.dqm", text.replace("REV", "2020-08-01"))
    assert [d.code for d in result.diagnostics] == ["date.order"]


def test_a_dose_change_is_said_and_limits_in_doses_rank_by_billing_units() -> None:
    text = ('policy p "T" {\n  type per_days\n  product x {\n    brand "A"\n    generic "g"\n'
            '    form "tablet"\n    unit each\n    dose DOSE each\n  }\n'
            '  limit x {\n    all 16 doses per 30 days\n  }\n}\n')
    result = diff.diff_policies(policy_from(text.replace("DOSE", "1")),
                                policy_from(text.replace("DOSE", "2")))
    sentences = result.sentences()
    assert any(s.endswith("one dose is now 2 tablets (before: 1 tablet).") for s in sentences), \
        sentences
    [limit] = [c for c in result.changes if c.area == "limit"]
    assert limit.effect == direction.LOOSER  # 16 doses are 32 tablets now, not 16


def test_durations_as_requested_are_said_in_words_and_ranked() -> None:
    text = _MAIL_POLICY.replace("}\n}\n", '}\n  fact more: bool "More?"\n'
                                '  criterion c {\n    when more\n    approve requested\n'
                                '    approvals last one time\n  }\n}\n')
    once = policy_from(text)
    either = policy_from(text.replace("last one time", "last one time or as requested"))
    dated = policy_from(text.replace("last one time", "last as requested"))
    forward = diff.diff_policies(once, either)
    assert any(s.endswith("now last once (one fill within 30 days), or until the date the "
                          "request asks for (before: a one-time approval (one fill within 30 "
                          "days)).") for s in forward.sentences()), forward.sentences()

    def effects(old: nodes.Policy, new: nodes.Policy) -> list[str | None]:
        return [c.effect for c in diff.diff_policies(old, new).changes if c.field == "duration"]

    assert effects(once, either) == ["looser"]
    assert effects(either, once) == ["stricter"]
    # an end date the request gives cannot be ranked against one fill
    assert effects(once, dated) == ["unknown"]


def test_products_sharing_a_brand_keep_their_full_names_in_a_summary() -> None:
    policy = policy_at(LIVE)
    text = "Anzupgo (delgocitinib 2% cream): a. Anzupgo (delgocitinib 2% cream): b."
    assert diff.shorten_names(text, [policy]) == "Anzupgo (delgocitinib 2% cream): a. Anzupgo: b."
    twin = dataclasses.replace(policy.products[0], id="anzupgo-1pct", strength="1%")
    both = dataclasses.replace(policy, products=(*policy.products, twin))
    assert diff.shorten_names(text, [both]) == text
