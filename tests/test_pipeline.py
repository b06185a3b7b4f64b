"""The pipeline across files: discovery, reading, twin spellings, ownership of products."""

from __future__ import annotations

from pathlib import Path

from dqmc.lang.pipeline import compile_paths, discover

ANZUPGO_DQM = Path("policy_specs/anzupgo.dqm")

MINIMAL = '''policy {pid} "T" {{
  type per_days
  product {product} {{
    brand "B"
    generic "g"
    form "cream"
    package tube 30 g "30 gram tube" as tube
  }}
  limit {product} {{
    retail {qty} g per 30 days
  }}
}}
'''


def write(path: Path, pid: str = "p", product: str = "cream", qty: int = 30) -> Path:
    path.write_text(MINIMAL.format(pid=pid, product=product, qty=qty), encoding="utf-8")
    return path


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_reference_policy_specs_compile_clean() -> None:
    result = compile_paths(["policy_specs"])
    assert [d for d in result.diagnostics if d.is_error] == []
    assert [c.policy.id for c in result.compiled] == sorted(c.policy.id for c in result.compiled)


def test_discovery_skips_tests_files_hidden_files_and_subfolders(tmp_path: Path) -> None:
    write(tmp_path / "a.dqm")
    (tmp_path / "a.tests.yaml").write_text("cases: []\n")
    (tmp_path / ".hidden.dqm").write_text("")
    (tmp_path / "history").mkdir()
    write(tmp_path / "history" / "old.dqm")
    found, problems = discover([tmp_path])
    assert [p.name for p in found] == ["a.dqm"] and problems == []


def test_missing_path_and_wrong_kind_are_diagnostics(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("x")
    result = compile_paths([tmp_path / "nope.dqm", other])
    assert sorted(codes(result)) == ["io.read", "io.unknown-kind"]


def test_non_utf8_file_is_a_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "latin.dqm").write_bytes('policy p "caf\xe9" {}'.encode("latin-1"))
    assert codes(compile_paths([tmp_path])) == ["io.encoding"]


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    (tmp_path / "big.dqm").write_text("#" * (1 << 20) + "\n")
    assert codes(compile_paths([tmp_path])) == ["io.too-large"]


def test_duplicate_policy_id_in_two_dsl_files(tmp_path: Path) -> None:
    write(tmp_path / "a.dqm")
    write(tmp_path / "b.dqm", product="other")
    result = compile_paths([tmp_path])
    assert "policy.duplicate-id" in codes(result) and not result.compiled


def test_product_owned_by_two_policies(tmp_path: Path) -> None:
    write(tmp_path / "a.dqm", pid="first")
    write(tmp_path / "b.dqm", pid="second")
    result = compile_paths([tmp_path])
    assert codes(result) == ["product.in-two-policies"]


def test_twin_spellings_must_agree(tmp_path: Path) -> None:
    write(tmp_path / "p.dqm")
    from dqmc.lang.pipeline import compile_paths as compile_again
    from dqmc.lang.printers.yaml_emit import emit_yaml

    policy = compile_again([tmp_path / "p.dqm"]).compiled[0].policy
    (tmp_path / "p.yaml").write_text(emit_yaml(policy), encoding="utf-8")
    agreed = compile_paths([tmp_path])
    assert agreed.ok and len(agreed.compiled) == 1
    assert agreed.compiled[0].source.endswith("p.dqm"), "the DSL spelling is the primary source"
    write(tmp_path / "p.dqm", qty=60)
    disagreed = compile_paths([tmp_path])
    assert codes(disagreed) == ["policy.twin-mismatch"]


def test_reference_yaml_and_dsl_give_equal_ir_and_hash() -> None:
    yaml_result = compile_paths(["policy_specs/anzupgo.yaml"])
    dsl_result = compile_paths([ANZUPGO_DQM])
    assert yaml_result.ok and dsl_result.ok
    assert yaml_result.compiled[0].policy == dsl_result.compiled[0].policy
    assert yaml_result.compiled[0].content_hash == dsl_result.compiled[0].content_hash


def test_spans_point_into_the_file_they_came_from() -> None:
    policy = compile_paths([ANZUPGO_DQM]).compiled[0].policy
    text = ANZUPGO_DQM.read_text().splitlines()
    retail = policy.limits[0]
    assert text[retail.span.line - 1][retail.span.col - 1:].startswith("retail")
    when = policy.criteria[0].when
    assert text[when.span.line - 1][when.span.col - 1:].startswith("needs_more")


def test_the_front_ends_write_refs_and_resolution_hands_on_plain_ids() -> None:
    """Lowered ids carry their spans; after resolution the policy holds plain `str` ids (generated
    data is read by exact type), equal to the lowered one, its content hash unchanged."""
    from dqmc.lang.frontend.dsl_lower import lower_dsl
    from dqmc.lang.ir import nodes
    from dqmc.lang.ir.canonical import content_hash
    from dqmc.lang.ir.resolve import resolve
    from dqmc.lang.source import NO_SPAN, SourceFile

    path = Path(__file__).parent.parent / "policy_specs" / "anzupgo.dqm"
    lowered, _ = lower_dsl(SourceFile("anzupgo.dqm", path.read_text(encoding="utf-8")))
    assert lowered is not None
    limit = lowered.limits[0]
    assert isinstance(limit.target, nodes.Ref) and limit.target.span != NO_SPAN
    resolved, found = resolve(lowered)
    assert found == [] and resolved.policy == lowered
    assert content_hash(resolved.policy) == content_hash(lowered)
    ids = [getattr(n, name) for n in resolved.policy.walk() for name in ("id", "target", "fact")
           if isinstance(getattr(n, name, None), str)]
    assert ids and all(type(i) is str for i in ids)
