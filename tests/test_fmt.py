"""`dqmc fmt`: comments survive, `--check` writes nothing, broken files stay untouched."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from dqmc.authoring import fmt
from dqmc.authoring.fmt import InternalFormatError, format_files, format_paths, format_source
from dqmc.lang.source import SourceFile


def formatted(text: str) -> str:
    result, diagnostics = format_source(SourceFile("test.dqm", text))
    assert result is not None, diagnostics
    return result


MESSY = '''# File header comment.

# Second paragraph of the header.
policy p "Title # not a comment" {   # on the header line
  # before the type
  type per_days  # trailing the type
  reject_code "76"  # the default, which is not printed

  # moved with the fact it precedes
  fact ok: bool "OK?"
  product a { brand "b" generic "g" form "tablet" unit each   # trailing the unit
    # before the closing brace of the product
  }
  limit a {
    # before the first limit line
    retail 1 each per 2 days # trailing a limit line
    all 3 each per fill
    # last in the limit block
  }
  criterion c {
    when ok and # inside a condition
      not ok
    approve a { retail 2 each per fill } # after an approve block
  }
  # before the policy's closing brace
} # after the policy's closing brace
# at the end of the file
'''

MESSY_FORMATTED = '''# File header comment.

# Second paragraph of the header.
policy p "Title # not a comment" {  # on the header line
  # before the type
  type per_days  # trailing the type
  approvals last 1 year

  product a {
    brand "b"
    generic "g"
    form "tablet"
    unit each  # trailing the unit
    # before the closing brace of the product
  }

  limit a {
    # before the first limit line
    retail 1 each per 2 days  # trailing a limit line
    all    3 each per fill
    # last in the limit block
  }
  # the default, which is not printed

  # moved with the fact it precedes
  fact ok: bool "OK?"

  criterion c {
    when ok  # inside a condition
     and not ok
    approve a {
      retail 2 each per fill
    }  # after an approve block
  }
  # before the policy's closing brace
}  # after the policy's closing brace
# at the end of the file
'''


def test_comments_are_kept_full_line_trailing_inside_blocks_and_at_the_end() -> None:
    assert formatted(MESSY) == MESSY_FORMATTED
    assert formatted(MESSY_FORMATTED) == MESSY_FORMATTED


def test_a_comment_before_a_reordered_item_moves_with_it() -> None:
    text = ('policy p "t" {\n  type per_days\n  # about the fact\n  fact ok: bool "OK?"\n'
            '  # about the product\n  product a { brand "b" generic "g" form "f" unit g }\n}\n')
    assert formatted(text) == (
        'policy p "t" {\n  type per_days\n\n  # about the product\n  product a {\n'
        '    brand "b"\n    generic "g"\n    form "f"\n    unit g\n  }\n\n'
        '  # about the fact\n  fact ok: bool "OK?"\n}\n')


def test_a_note_under_the_last_item_of_a_kind_stays_with_it() -> None:
    text = ('policy p "t" {\n  type per_days\n\n  fact ok: bool "q"\n'
            '  # left out: a fact the source cannot be read for\n\n'
            '  # ---- references ----\n  reference "r"\n}\n')
    assert formatted(text) == text


def test_a_hash_inside_strings_is_not_a_comment() -> None:
    text = ('policy p "a # b" {\n  type per_days\n\n  reference """\n    # a heading in prose\n'
            '    text\n    """\n}\n')
    assert formatted(text) == text


def test_an_empty_limit_block_is_refused_with_its_diagnostic_not_printed_away() -> None:
    # An empty `limit a { }` lowers to nothing, so printing it would drop it silently: fmt
    # reports the verification code instead of formatting (it once moved its comment out).
    text = ('policy p "t" {\n  type per_days\n'
            '  product a { brand "b" generic "g" form "f" unit g }\n'
            '  limit a {\n    # nothing here yet\n  }\n  fact ok: bool "q"\n}\n')
    result, diagnostics = format_source(SourceFile("test.dqm", text))
    assert result is None
    assert [(d.code, d.span.line) for d in diagnostics] == [("limit.empty", 4)]


def criterion(when: str) -> str:
    """A formatted policy whose one criterion's condition is `when` (lines after the first
    already indented)."""
    return ('policy p "t" {\n  type per_days\n  approvals last 1 year\n\n'
            '  fact a: bool "A?"\n  fact b: bool "B?"\n  fact c: bool "C?"\n'
            '  fact n: number "N?"\n\n'
            f'  criterion more {{\n    when {when}\n  }}\n}}\n')


@pytest.mark.parametrize(("written", "printed"), [
    # The issue: `(a and b) or c` printed as `a and b or c`.
    ("(a and b) or c", "(a and b) or c"),
    ("c or (a and b) or (a and not b)", "c or (a and b) or (a and not b)"),
    ("not (a and b)", "not (a and b)"),  # needed for the meaning
    ("not (n >= 2) and (not a)", "not (n >= 2) and (not a)"),
    ("((a and b)) or c", "(a and b) or c"),  # one pair is enough
    ("(a) and (n < 1) or c", "a and n < 1 or c"),  # a lone test needs no grouping
    ("not (a)", "not a"),
    ("(a or b)", "a or b"),  # nor does the whole condition
    ("a and b or c", "a and b or c"),  # none added
    ("(a or b) and c", "(a or b) and c"),
])
def test_parentheses_that_group_a_sub_condition_are_kept(written: str, printed: str) -> None:
    assert formatted(criterion(written)) == criterion(printed)
    assert formatted(criterion(printed)) == criterion(printed)


# The issue, whole: fmt turned "28 tablets" into "28 tabletses", flattened the `when` and dropped
# its parentheses. Already formatted, it must come back unchanged.
COMBINATION_PACK = """policy combo "Combination pack" {
  type per_days
  approvals last 1 year

  product combo {
    brand "C"
    generic "c"
    form "combination pack of tablets"
    unit each
  }

  limit combo {
    retail 28 tablets per 30 days
  }

  fact a: bool "A?"
  fact b: bool "B?"
  fact c: bool "C?"

  criterion more {
    when (a and b)  # both
      or c
    approve combo {
      retail 56 tablets per 30 days
    }
  }
}
"""


def test_the_issues_spec_is_stable_and_keeps_tablets_lines_and_parentheses() -> None:
    assert formatted(COMBINATION_PACK) == COMBINATION_PACK
    messy = COMBINATION_PACK.replace("when (a and b)  # both\n      or c",
                                     "when ((a and b)) or # both\n        c")
    assert formatted(messy) == COMBINATION_PACK


def test_the_policy_library_is_formatted() -> None:
    report = format_files([REPO / "policy_specs"], check=True)
    assert (report.changed, report.exit_code) == ([], 0)
    assert len(report.unchanged) >= 6


CANONICAL = 'policy p "t" {\n  type per_days\n}\n'
UNFORMATTED = 'policy p "t" { type per_days }\n'
BROKEN = 'policy p "t" { type per_days\n'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_reports_files_that_would_change_and_writes_nothing(tmp_path: Path) -> None:
    messy = write(tmp_path, "messy.dqm", UNFORMATTED)
    clean = write(tmp_path, "clean.dqm", CANONICAL)
    report = format_files([tmp_path], check=True)
    assert report.changed == [str(messy)]
    assert report.unchanged == [str(clean)]
    assert report.exit_code == 1
    assert messy.read_text(encoding="utf-8") == UNFORMATTED


def test_check_passes_when_everything_is_formatted(tmp_path: Path) -> None:
    write(tmp_path, "clean.dqm", CANONICAL)
    report = format_files([tmp_path], check=True)
    assert report.changed == [] and report.exit_code == 0


def test_format_rewrites_only_files_whose_text_changes(tmp_path: Path, monkeypatch) -> None:
    messy = write(tmp_path, "messy.dqm", UNFORMATTED)
    clean = write(tmp_path, "clean.dqm", CANONICAL)
    written: list[Path] = []
    real_write = fmt._write_atomically
    monkeypatch.setattr(fmt, "_write_atomically",
                        lambda path, text: (written.append(path), real_write(path, text)))
    report = format_files([messy, clean], check=False)
    assert written == [messy]
    assert report.changed == [str(messy)] and report.exit_code == 0
    assert messy.read_text(encoding="utf-8") == CANONICAL
    assert clean.read_text(encoding="utf-8") == CANONICAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.dqm", "messy.dqm"]  # no temp left


def test_a_file_with_syntax_errors_is_left_untouched(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.dqm", BROKEN)
    report = format_files([broken], check=False)
    assert broken.read_text(encoding="utf-8") == BROKEN
    assert [d.code for d in report.diagnostics] == ["syntax.unexpected-eof"]
    assert report.changed == [] and report.exit_code == 1
    assert str(broken) in report.sources


def test_a_printer_that_would_change_the_policy_is_refused(tmp_path: Path, monkeypatch) -> None:
    messy = write(tmp_path, "messy.dqm", UNFORMATTED)
    monkeypatch.setattr(fmt, "print_policy",
                        lambda policy, comments, **_: CANONICAL.replace("per_days", "per_rx"))
    report = format_files([messy], check=False)
    assert messy.read_text(encoding="utf-8") == UNFORMATTED
    assert report.exit_code == 2
    assert report.internal_errors[0].startswith(
        f"{messy}: the formatted text lowers to a different policy")


def test_a_printer_that_would_lose_a_comment_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(fmt, "print_policy", lambda policy, comments, **_: CANONICAL)
    with pytest.raises(InternalFormatError, match="comment"):
        format_source(SourceFile("c.dqm", "# keep me\n" + CANONICAL))


def test_paths_that_are_not_dsl_specs_are_reported(tmp_path: Path) -> None:
    yaml_spec = write(tmp_path, "policy.yaml", "policy: {}\n")
    undecodable = tmp_path / "latin1.dqm"
    undecodable.write_bytes(b'policy p "caf\xe9" { type per_days }\n')
    report = format_files([yaml_spec, tmp_path / "missing.dqm", undecodable], check=True)
    codes = sorted(d.code for d in report.diagnostics)
    assert codes == ["io.encoding", "io.read", "io.unknown-kind"]
    assert report.exit_code == 1


def test_a_folder_is_searched_recursively_in_sorted_order(tmp_path: Path) -> None:
    nested = tmp_path / "b"
    nested.mkdir()
    second = write(nested, "z.dqm", UNFORMATTED)
    first = write(tmp_path, "a.dqm", UNFORMATTED)
    write(tmp_path, "notes.txt", "not a spec")
    assert format_files([tmp_path], check=True).changed == [str(first), str(second)]


def test_format_paths_says_what_it_did_and_returns_the_exit_code(tmp_path: Path) -> None:
    messy = write(tmp_path, "messy.dqm", UNFORMATTED)
    write(tmp_path, "clean.dqm", CANONICAL)
    broken = write(tmp_path, "broken.dqm", BROKEN)
    out, err = io.StringIO(), io.StringIO()
    assert format_paths([tmp_path], check=True, out=out, err=err) == 1
    assert out.getvalue() == (f"would reformat {messy}\n"
                              "1 file would be reformatted, 1 already formatted\n")
    assert f"{broken}:2:1: error[syntax.unexpected-eof]" in err.getvalue()
    broken.unlink()
    out = io.StringIO()
    assert format_paths([tmp_path], check=False, out=out, err=err) == 0
    assert out.getvalue() == f"reformatted {messy}\n1 file reformatted, 1 already formatted\n"
    assert format_paths([tmp_path], check=True, out=io.StringIO(), err=err) == 0


def test_the_command_line_formats_and_checks(tmp_path: Path) -> None:
    messy = write(tmp_path, "messy.dqm", UNFORMATTED)
    command = [sys.executable, "-m", "dqmc", "fmt"]
    checked = subprocess.run([*command, "--check", str(messy)], capture_output=True, text=True)
    assert (checked.returncode, messy.read_text(encoding="utf-8")) == (1, UNFORMATTED)
    assert f"would reformat {messy}" in checked.stdout
    formatted = subprocess.run([*command, str(messy)], capture_output=True, text=True)
    assert (formatted.returncode, messy.read_text(encoding="utf-8")) == (0, CANONICAL)
