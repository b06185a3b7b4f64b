"""Golden diagnostics for invalid YAML specs: every yaml.* and schema.* code, at exact positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, update_golden

from dqmc.lang.diagnostics import CODES, has_errors, sorted_unique
from dqmc.lang.frontend.yaml_lower import lower_yaml
from dqmc.lang.source import SourceFile

GOLDEN = REPO / "tests/golden/invalid/yaml"
CASES = sorted(GOLDEN.glob("*.yaml"))


def concise(spec: Path) -> str:
    relative = spec.relative_to(REPO).as_posix()
    source = SourceFile(relative, spec.read_text(encoding="utf-8"))
    _, diagnostics = lower_yaml(source)
    assert has_errors(diagnostics), "every golden invalid spec has at least one error"
    return "\n".join(d.concise() for d in sorted_unique(diagnostics))


@pytest.mark.parametrize("spec", CASES, ids=[c.stem for c in CASES])
def test_diagnostics_match_golden(spec: Path) -> None:
    actual = concise(spec)
    expected_path = spec.with_suffix(".expected")
    if update_golden():
        expected_path.write_text(actual + "\n", encoding="utf-8")
    assert actual == expected_path.read_text(encoding="utf-8").rstrip("\n")


def test_every_yaml_and_schema_code_has_a_golden_case() -> None:
    covered = {line.split("[", 1)[1].split("]", 1)[0]
               for expected in GOLDEN.glob("*.expected")
               for line in expected.read_text(encoding="utf-8").splitlines()}
    wanted = {code for code in CODES if code.startswith(("yaml.", "schema."))}
    assert wanted - covered == set()
