"""The policy JSON Schema: well-formed, documented for editors, its errors at exact positions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.frontend import lower_common
from dqmc.lang.frontend.yaml_load import load_yaml
from dqmc.lang.frontend.yaml_schema import load_schema, validate
from dqmc.lang.ir import nodes
from dqmc.lang.source import SourceFile

VALID_HEAD = """\
policy:
  id: p
  title: T
  type: per_days
products:
  x:
    brand: A
    generic: g
    form: cream
    unit: g
"""


def schema_errors(text: str, schema: dict[str, Any] | None = None) -> list[Diagnostic]:
    document, problems = load_yaml(SourceFile("t.yaml", text))
    assert document is not None, problems
    return validate(document, schema)


def where(diagnostic: Diagnostic) -> tuple[str, int, int]:
    return diagnostic.code, diagnostic.span.line, diagnostic.span.col


def object_schemas(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from object_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from object_schemas(value, f"{path}/{index}")


# -- the schema itself --------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def records(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Schemas of mappings with fixed keys (not the if/then conditions about them)."""
    for path, node in object_schemas(schema):
        if isinstance(node.get("properties"), dict) and "/allOf/" not in path:
            yield path, node


def test_every_property_has_a_title_and_a_description_for_editors() -> None:
    undocumented = [
        f"{path}/properties/{name}"
        for path, node in records(load_schema())
        for name, prop in node["properties"].items()
        if not (prop.get("title") and prop.get("description"))
    ]
    assert undocumented == []


def test_every_record_refuses_unknown_keys() -> None:
    found = list(records(load_schema()))
    assert len(found) >= 9
    assert [path for path, node in found if node.get("additionalProperties") is not False] == []


def test_enumerations_match_the_ir() -> None:
    defs = load_schema()["$defs"]
    assert tuple(defs["settings"]["properties"]["type"]["enum"]) == nodes.POLICY_TYPES
    assert tuple(defs["fact"]["properties"]["type"]["enum"]) == nodes.FACT_TYPES
    assert set(defs["product"]["properties"]["unit"]["enum"]) == set(lower_common.UNIT_WORDS)


def test_reject_code_pattern_matches_the_dsl_check() -> None:
    pattern = load_schema()["$defs"]["settings"]["properties"]["reject_code"]["pattern"]
    for code in ("76", "E7", "PZ", "M1Z", "7", "e7", "7654", "76 "):
        in_dsl = bool(lower_common.REJECT_CODE_PATTERN.match(code))
        assert bool(re.search(pattern, code)) == in_dsl, code


def test_reference_spec_is_valid() -> None:
    text = Path("policy_specs/anzupgo.yaml").read_text(encoding="utf-8")
    assert schema_errors(text) == []


# -- errors, each at the spot to fix ------------------------------------------------------------


def test_unknown_key_points_at_the_key_and_suggests_the_right_one() -> None:
    [error] = schema_errors(
        VALID_HEAD.replace("    form: cream", "    from: cream\n    form: cream"))
    assert where(error) == ("schema.unknown-key", 9, 5)
    assert "unknown key 'from' in product 'x'; did you mean 'form'?" in error.message
    assert "Allowed keys: brand, generic, strength, form, unit" in error.message


def test_missing_key_points_at_the_parent_key_and_names_the_missing_one() -> None:
    [error] = schema_errors(VALID_HEAD.replace("    form: cream\n", ""))
    assert where(error) == ("schema.required", 6, 3)
    assert error.message.startswith("product 'x' is missing `form`: add `form: ...`")


def test_missing_key_at_the_top_level_points_at_the_start() -> None:
    [error] = schema_errors("# comment\nproducts: {}\n")
    assert where(error) == ("schema.required", 2, 1)
    assert "the file is missing `policy`" in error.message


def test_wrong_type_points_at_the_value_and_says_to_quote() -> None:
    [error] = schema_errors(
        VALID_HEAD.replace("type: per_days", "type: per_days\n  reject_code: 76"))
    assert where(error) == ("schema.type", 5, 16)
    assert error.message == ("`reject_code` must be text, not a whole number; quote it to keep it "
                             'as text: "76"')


def test_unquoted_ndc_is_a_type_error_at_the_list_item() -> None:
    [error] = schema_errors(VALID_HEAD + "    ndc: [00173073601]\n")
    assert where(error) == ("schema.type", 11, 11)
    assert '"00173073601"' in error.message


def test_bad_enum_lists_the_allowed_values() -> None:
    [error] = schema_errors(VALID_HEAD.replace("type: per_days", "type: perdays"))
    assert where(error) == ("schema.enum", 4, 9)
    assert "did you mean 'per_days'?" in error.message
    assert ("Allowed: per_days, per_rx, per_day, mixed, prior_authorization, "
            "override_guideline") in error.message


def test_bad_pattern_on_a_value_and_on_a_key() -> None:
    errors = schema_errors(VALID_HEAD.replace("  x:", "  Bad Id:") + "    ndc: ['123']\n")
    assert [where(e) for e in errors] == [("schema.pattern", 6, 3), ("schema.pattern", 11, 12)]
    assert errors[0].message.startswith("'Bad Id' is not a valid id: use letters, digits and _")
    assert errors[1].message.startswith("'123' is not a valid NDC-11: write 11 digits")


def test_empty_list_is_a_range_error() -> None:
    [error] = schema_errors(VALID_HEAD + "groups:\n  g: {title: G, products: []}\n")
    assert where(error) == ("schema.range", 12, 27)
    assert error.message == "`products` is empty: give at least one item"


def test_reserved_channel_id_is_invalid() -> None:
    [error] = schema_errors(VALID_HEAD + "channels:\n  all: Everyone\n")
    assert where(error) == ("schema.invalid", 12, 3)
    assert "`all` is reserved" in error.message


def test_values_on_a_bool_fact_and_missing_values_on_an_enum_fact() -> None:
    errors = schema_errors(VALID_HEAD + "facts:\n"
                           "  a: {type: bool, values: [x], question: A}\n"
                           "  b: {type: enum, question: B}\n")
    assert [where(e) for e in errors] == [
        ("schema.unknown-key", 12, 19), ("schema.required", 13, 3)]
    assert "only enum and set facts list values" in errors[0].message
    assert "fact 'b' is missing `values`" in errors[1].message


def test_whole_file_of_the_wrong_shape() -> None:
    [error] = schema_errors("- policy\n")
    assert where(error) == ("schema.type", 1, 1)
    assert error.message == "the file must be a mapping (`key: value` lines), not a list"


def test_every_problem_is_reported_once() -> None:
    text = VALID_HEAD.replace("brand: A", "brand: 1").replace("type: per_days", "type: 3")
    errors = schema_errors(text + "    extra: 1\n    more: 2\n")
    assert sorted(where(e) for e in errors) == [
        ("schema.enum", 4, 9), ("schema.type", 7, 12),
        ("schema.unknown-key", 11, 5), ("schema.unknown-key", 12, 5)]


def test_any_of_collapses_into_one_message() -> None:
    schema = {"type": "object", "properties": {"size": {"anyOf": [
        {"title": "Grams", "type": "integer", "minimum": 1},
        {"title": "Size text", "type": "string", "pattern": "^[0-9]+ g$",
         "description": "e.g. 30 g"},
    ]}}}
    [fits_no_type] = schema_errors("size: [1]\n", schema)
    assert where(fits_no_type) == ("schema.type", 1, 7)
    assert fits_no_type.message == "a list does not fit here; write grams or size text"
    [fits_the_string] = schema_errors("size: thirty\n", schema)
    assert where(fits_the_string) == ("schema.pattern", 1, 7)
    assert fits_the_string.message == "'thirty' is not a valid size text: e.g. 30 g"


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_file_needs_a_policy(text: str) -> None:
    [error] = schema_errors(text)
    assert where(error) == ("schema.type", 1, 1)
    assert "not nothing" in error.message
