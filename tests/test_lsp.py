"""`dqmc lsp` end to end: a real LSP client drives `python -m dqmc lsp` over stdio."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import pytest_lsp
from conftest import REPO
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from dqmc.authoring.fmt import format_source
from dqmc.lang.source import SourceFile

ANZUPGO_DQM = REPO / "policy_specs" / "anzupgo.dqm"
ANZUPGO_YAML = REPO / "policy_specs" / "anzupgo.yaml"
WAIT = 20.0  # seconds: a cold server builds the LALR tables before its first answer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "dqmc", "lsp"]),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=REPO.as_uri()))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch policy folder holding copies of both Anzupgo spellings."""
    folder = tmp_path_factory.mktemp("lsp") / "policy_specs"
    folder.mkdir()
    for spec in (ANZUPGO_DQM, ANZUPGO_YAML):
        shutil.copy(spec, folder / spec.name)
    return folder


# -- helpers -----------------------------------------------------------------------------------


def open_doc(client: LanguageClient, path: Path, text: str, language: str = "dqm") -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
    return uri


def change_doc(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def close_doc(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))


async def diagnostics_until(client: LanguageClient, uri: str,
                            wanted: Callable[[Sequence[types.Diagnostic]], bool]
                            ) -> Sequence[types.Diagnostic]:
    """The diagnostics of `uri` once they satisfy `wanted`; fails after WAIT seconds."""
    async def poll() -> Sequence[types.Diagnostic]:
        while uri not in client.diagnostics or not wanted(client.diagnostics[uri]):
            await asyncio.sleep(0.02)
        return client.diagnostics[uri]

    return await asyncio.wait_for(poll(), WAIT)


def at(text: str, needle: str, offset: int = 0, occurrence: int = 1) -> types.Position:
    """The LSP position of the `occurrence`-th `needle` in `text`, plus `offset` characters."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    return types.Position(line=line, character=index - (text.rfind("\n", 0, index) + 1))


def check_json(folder: Path) -> list[dict]:
    run = subprocess.run([sys.executable, "-m", "dqmc", "check", "--format", "json", str(folder)],
                         check=False,
                         capture_output=True, text=True, cwd=REPO)
    return json.loads(run.stdout)


def as_check_json(diagnostic: types.Diagnostic, file: str) -> dict:
    # The spec texts here are ASCII up to every diagnostic, so UTF-16 columns are code points.
    r = diagnostic.range
    severity = {types.DiagnosticSeverity.Error: "error", types.DiagnosticSeverity.Warning:
                "warning", types.DiagnosticSeverity.Information: "note"}[diagnostic.severity]
    return {"file": file, "line": r.start.line + 1, "column": r.start.character + 1,
            "end_line": r.end.line + 1, "end_column": r.end.character + 1,
            "severity": severity, "code": diagnostic.code, "message": diagnostic.message}


def relative(path: Path) -> str:
    return Path(os.path.relpath(path, REPO)).as_posix()


# -- diagnostics -------------------------------------------------------------------------------


async def test_an_error_is_reported_as_dqmc_check_reports_it_and_a_fix_clears_it(
        client: LanguageClient, specs: Path) -> None:
    good = ANZUPGO_DQM.read_text(encoding="utf-8")
    broken = good.replace("retail        30 g per 30 days", "retail        30 kg per 30 days")
    broken = broken.replace("fact needs_more: bool", "fact needs_more bool")  # no colon
    spec = specs / "anzupgo.dqm"
    uri = open_doc(client, spec, broken)
    found = await diagnostics_until(client, uri, lambda ds: len(ds) > 0)

    spec.write_text(broken, encoding="utf-8")  # what `dqmc check` says of the same text
    try:
        expected = [d for d in check_json(specs) if d["file"] == relative(spec)]
    finally:
        shutil.copy(ANZUPGO_DQM, spec)
    assert expected, "the broken text must give diagnostics"
    assert [as_check_json(d, relative(spec)) for d in found] == expected
    assert all(d.source == "dqmc" for d in found)
    first = found[0]
    assert (first.code, first.range) == ("syntax.unexpected-token", types.Range(
        start=at(broken, "bool \""), end=at(broken, "bool \"", 4)))

    change_doc(client, uri, good, 2)
    assert list(await diagnostics_until(client, uri, lambda ds: len(ds) == 0)) == []
    close_doc(client, uri)


async def test_a_spec_that_lowers_reports_check_errors_at_their_ranges(
        client: LanguageClient, specs: Path) -> None:
    good = ANZUPGO_DQM.read_text(encoding="utf-8")
    text = good.replace("approve anzupgo-2pct-cream {", "approve anzupgo-3pct-cream {")
    uri = open_doc(client, specs / "anzupgo.dqm", text)
    found = await diagnostics_until(client, uri, lambda ds: len(ds) > 0)
    codes = [d.code for d in found]
    assert "criterion.unknown-product" in codes
    close_doc(client, uri)


async def test_cross_file_findings_reach_the_other_spec_while_typing(
        client: LanguageClient, specs: Path) -> None:
    good = ANZUPGO_DQM.read_text(encoding="utf-8")
    disagreeing = good.replace("home_delivery 90 g per 90 days", "home_delivery 60 g per 90 days")
    dqm_uri = open_doc(client, specs / "anzupgo.dqm", disagreeing)
    yaml_uri = (specs / "anzupgo.yaml").as_uri()
    found = await diagnostics_until(client, yaml_uri, lambda ds: len(ds) > 0)
    assert [d.code for d in found] == ["policy.twin-mismatch"]

    (specs / "anzupgo.dqm").write_text(disagreeing, encoding="utf-8")
    try:
        expected = [d for d in check_json(specs) if d["file"] == relative(specs / "anzupgo.yaml")]
    finally:
        shutil.copy(ANZUPGO_DQM, specs / "anzupgo.dqm")
    assert [as_check_json(d, relative(specs / "anzupgo.yaml")) for d in found] == expected

    change_doc(client, dqm_uri, good, 2)
    assert list(await diagnostics_until(client, yaml_uri, lambda ds: len(ds) == 0)) == []
    close_doc(client, dqm_uri)


async def test_columns_are_counted_in_the_clients_utf16_units(
        client: LanguageClient, specs: Path) -> None:
    good = ANZUPGO_DQM.read_text(encoding="utf-8")
    # U+1F9F4 (lotion bottle) is one code point but two UTF-16 units.
    text = good.replace('brand "Anzupgo"', 'brand "Anzupgo \U0001F9F4" bogus')
    uri = open_doc(client, specs / "unicode.dqm", text)
    found = await diagnostics_until(client, uri, lambda ds: len(ds) > 0)
    start = at(text, "bogus")
    assert found[0].range.start == types.Position(line=start.line, character=start.character + 1)
    close_doc(client, uri)


async def test_yaml_that_is_no_policy_is_left_alone(client: LanguageClient, specs: Path) -> None:
    other = open_doc(client, specs / "compose.yaml", "services:\n  web: {image: x}\n", "yaml")
    # The server answers in order: once a spec opened later is published, the YAML was handled.
    spec = open_doc(client, specs / "later.dqm", 'policy later "t" {\n  type per_days\n}\n')
    await diagnostics_until(client, spec, lambda ds: True)
    assert other not in client.diagnostics
    close_doc(client, other)
    close_doc(client, spec)


# -- hover, navigation, outline ----------------------------------------------------------------


async def test_hover_states_the_normalised_meaning(client: LanguageClient) -> None:
    text = ANZUPGO_DQM.read_text(encoding="utf-8")
    uri = open_doc(client, ANZUPGO_DQM, text)

    async def hover(position: types.Position) -> str:
        answer = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position))
        assert answer is not None
        return answer.contents.value  # type: ignore[union-attr]

    limit = await hover(at(text, "30 g per 30 days", 1))
    assert limit.startswith("30 g per 30 days at retail = 1 tube")
    criterion = await hover(at(text, "criterion additional-quantity", 12))
    assert "approves 60 g per 30 days at retail for 1 year" in criterion
    assert "approves 180 g per 90 days at home delivery for 1 year" in criterion
    product = await hover(at(text, "limit anzupgo-2pct-cream", 8))
    assert "Anzupgo (delgocitinib 2% cream)" in product
    assert "30 g per 30 days at retail = 1 tube" in product
    fact = await hover(at(text, "severity in", 2))
    assert "How severe is the chronic hand eczema?" in fact
    close_doc(client, uri)


async def test_hover_in_a_yaml_spec(client: LanguageClient) -> None:
    text = ANZUPGO_YAML.read_text(encoding="utf-8")
    uri = open_doc(client, ANZUPGO_YAML, text, "yaml")
    answer = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=at(text, "180 g per 90 days")))
    assert answer is not None
    assert answer.contents.value.startswith(  # type: ignore[union-attr]
        "approves 180 g per 90 days at home delivery for 1 year (= 6 tubes)")
    close_doc(client, uri)


@pytest.mark.parametrize("spec, language", [(ANZUPGO_DQM, "dqm"), (ANZUPGO_YAML, "yaml")])
async def test_definition_and_references(client: LanguageClient, spec: Path, language: str) -> None:
    text = spec.read_text(encoding="utf-8")
    uri = open_doc(client, spec, text, language)
    doc = types.TextDocumentIdentifier(uri=uri)

    use = at(text, "severity in", 2)
    found = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc, position=use))
    assert isinstance(found, types.Location) and found.uri == uri
    definition = at(text, "severity")
    assert found.range.start == definition

    approve = at(text, "anzupgo-2pct-cream", 2, occurrence=3)
    found = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc, position=approve))
    assert isinstance(found, types.Location)
    assert found.range.start == at(text, "anzupgo-2pct-cream")

    references = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc, position=definition,
        context=types.ReferenceContext(include_declaration=True)))
    assert references is not None
    assert sorted(r.range.start.line for r in references) == [definition.line, use.line]

    criterion = at(text, "additional-quantity", 3)
    references = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc, position=criterion,
        context=types.ReferenceContext(include_declaration=False)))
    assert list(references or []) == []
    close_doc(client, uri)


async def test_document_symbols_outline_the_policy(client: LanguageClient) -> None:
    text = ANZUPGO_DQM.read_text(encoding="utf-8")
    uri = open_doc(client, ANZUPGO_DQM, text)
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert symbols is not None and len(symbols) == 1
    policy = symbols[0]
    assert isinstance(policy, types.DocumentSymbol) and policy.name == "anzupgo-dqm"
    names = [(child.name, child.kind) for child in policy.children or []]
    assert ("anzupgo-2pct-cream", types.SymbolKind.Class) in names
    assert ("additional-quantity", types.SymbolKind.Function) in names
    assert [n for n, kind in names if kind == types.SymbolKind.Variable] == [
        "needs_more", "diagnosis", "severity", "sites"]
    close_doc(client, uri)


# -- completion and formatting -----------------------------------------------------------------


async def complete(client: LanguageClient, uri: str, position: types.Position) -> list[str]:
    answer = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position))
    assert isinstance(answer, types.CompletionList)
    return [item.label for item in answer.items]


async def test_completion_offers_what_fits_the_cursor(client: LanguageClient, specs: Path) -> None:
    good = ANZUPGO_DQM.read_text(encoding="utf-8")
    uri = open_doc(client, specs / "typing.dqm", good)

    assert await complete(client, uri, at(good, "== chronic", 3)) == [
        "chronic_hand_eczema", "other", "false", "true"]
    assert set(await complete(client, uri, at(good, "in {moderate", 4))) == {
        "mild", "moderate", "severe"}

    # Half-typed text does not parse; completion still answers from what the text defines.
    typing = good.replace("    home_delivery 90 g per 90 days\n",
                          "    home_delivery 90 g per 90 days\n    \n")
    change_doc(client, uri, typing, 2)
    channels = await complete(client, uri, at(typing, "90 days\n    \n", 12))
    assert {"retail", "home_delivery", "all"} <= set(channels)

    typing = typing.replace("90 days\n    \n", "90 days\n    retail 2 \n")
    change_doc(client, uri, typing, 3)
    units = await complete(client, uri, at(typing, "retail 2 ", 9))
    assert {"g", "mL", "each", "tube", "tubes"} <= set(units)

    typing = good.replace("  limit anzupgo", "  li\n  limit anzupgo")
    change_doc(client, uri, typing, 4)
    keywords = await complete(client, uri, at(typing, "  li\n", 4))
    assert {"limit", "product", "criterion", "fact", "channel"} <= set(keywords)
    assert "policy" not in keywords  # the grammar allows no nested policy here

    typing = good.replace("  limit anzupgo-2pct-cream {", "  limit  {")
    change_doc(client, uri, typing, 5)
    assert await complete(client, uri, at(typing, "limit  {", 6)) == ["anzupgo-2pct-cream"]
    close_doc(client, uri)


async def test_completion_in_a_yaml_spec(client: LanguageClient, specs: Path) -> None:
    good = ANZUPGO_YAML.read_text(encoding="utf-8")
    typing = good.replace("    home_delivery: 90 g per 90 days\n",
                          "    home_delivery: 90 g per 90 days\n    specialty: 3 \n")
    uri = open_doc(client, specs / "typing.yaml", typing, "yaml")
    units = await complete(client, uri, at(typing, "specialty: 3 ", 13))
    assert {"g", "tube", "tubes"} <= set(units)
    values = await complete(client, uri, at(typing, "severity in {", 13))
    assert set(values) == {"mild", "moderate", "severe"}
    close_doc(client, uri)


async def test_formatting_gives_dqmc_fmt_output(client: LanguageClient, specs: Path) -> None:
    good = ANZUPGO_DQM.read_text(encoding="utf-8")
    messy = good.replace("    retail        30 g per 30 days", "       retail 30 g   per 30 days")
    messy = messy.replace("  type per_days", "type    per_days")
    uri = open_doc(client, specs / "messy.dqm", messy)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        options=types.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert edits is not None and len(edits) == 1
    edit = edits[0]
    assert edit.range.start == types.Position(line=0, character=0)
    lines = messy.split("\n")
    assert edit.range.end == types.Position(line=len(lines) - 1, character=len(lines[-1]))
    expected, _ = format_source(SourceFile("messy.dqm", messy))
    assert edit.new_text == expected == good
    close_doc(client, uri)


# -- robustness --------------------------------------------------------------------------------

BROKEN_TEXTS = [
    "",
    "policy",
    'policy p "t" {\n  product x {\n    brand "unterminated\n',
    "}}}{{{ ### \x00 \ufeff \u202e",
    ('policy p "t" {\n  limit x {\n    retail 1e999 g per 0 days\n  }\n'
     '  criterion c { when (((( }\n}'),
    "policy:\n\tid: tab\n",
    "policy: [1, 2\nproducts: {a: *alias}\n",
    "- just\n- a list\n",
    "criteria:\n  c:\n    when: 'not ('\n    approve: 7\n",
]


@pytest.mark.parametrize("index", range(len(BROKEN_TEXTS)))
async def test_a_broken_document_never_crashes_the_server(
        client: LanguageClient, specs: Path, index: int) -> None:
    text = BROKEN_TEXTS[index]
    language = "yaml" if index >= 5 else "dqm"
    uri = open_doc(client, specs / f"broken{index}.{'yaml' if language == 'yaml' else 'dqm'}",
                   text, language)
    doc = types.TextDocumentIdentifier(uri=uri)
    lines = text.split("\n")
    for line in range(len(lines)):
        for character in sorted({0, len(lines[line]) // 2, len(lines[line])}):
            position = types.Position(line=line, character=character)
            await client.text_document_hover_async(types.HoverParams(
                text_document=doc, position=position))
            await client.text_document_completion_async(types.CompletionParams(
                text_document=doc, position=position))
            await client.text_document_definition_async(types.DefinitionParams(
                text_document=doc, position=position))
    await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc))
    await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc, options=types.FormattingOptions(tab_size=2, insert_spaces=True)))
    close_doc(client, uri)
    errors = [m.message for m in client.log_messages + client.messages
              if m.type == types.MessageType.Error]
    assert errors == []
    # Still serving: a good document is answered as usual.
    good = ANZUPGO_DQM.read_text(encoding="utf-8")
    uri = open_doc(client, ANZUPGO_DQM, good)
    answer = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=at(good, "30 g per 30", 1)))
    assert answer is not None
    close_doc(client, uri)


async def test_hover_texts_name_prior_authorization_and_implementation_dates() -> None:
    from dqmc.authoring.lsp import describe as lsp_describe
    from dqmc.lang.pipeline import compile_paths

    policy = compile_paths(["policy_specs/bcbsal-ql-guidelines.dqm"]).compiled[0].policy
    mekinist = lsp_describe.describe_product(policy, policy.product("al-mekinist-0_5mg-tab"))
    assert "Requires prior authorization" in mekinist
    assert "(since 2014-01-01)" in mekinist
    cymbalta = lsp_describe.describe_product(policy, policy.product("al-cymbalta"))
    assert "prior authorization" not in cymbalta
    butrans = next(limit for limit in policy.limits if limit.target == "al-butrans")
    hover = lsp_describe.describe_rule_at(policy, butrans.span.line, butrans.span.col + 2)
    assert hover is not None and hover.endswith("applies from 2011-04-01")


async def test_approve_requested_is_completed_and_described() -> None:
    from dqmc.authoring.lsp import describe as lsp_describe
    from dqmc.authoring.lsp.complete import dsl_candidates
    from dqmc.authoring.lsp.index import dsl_names
    from dqmc.lang.pipeline import compile_paths

    typing = ('policy p "T" {\n  type per_days\n  product cream {\n    brand "B"\n'
              '    generic "g"\n    form "cream"\n    unit g\n  }\n  fact a: bool "A?"\n'
              '  criterion c {\n    when a\n    approve ')
    labels = [c.label for c in dsl_candidates(typing, dsl_names(typing))]
    assert labels == ["cream", "requested"]
    policy = compile_paths(["policy_specs/lehigh-caremark-dqm.dqm"]).compiled[0].policy
    hover = lsp_describe.describe_criterion(policy, policy.criteria[0])
    assert "approves the quantity requested at the channels requested until the date the " \
           "request asks for" in hover
    assert "Approves nothing" not in hover


async def test_for_requests_is_completed_and_described() -> None:
    from dqmc.authoring.lsp import describe as lsp_describe
    from dqmc.authoring.lsp.complete import dsl_candidates, yaml_candidates
    from dqmc.authoring.lsp.index import Names, dsl_names
    from dqmc.lang.pipeline import compile_text

    head = ('policy p "T" {\n  type per_days\n  fact a: bool "A?"\n'
            '  criterion c {\n    ')
    assert "for" in [c.label for c in dsl_candidates(head, dsl_names(head))]
    typing = head + "for "
    assert [c.label for c in dsl_candidates(typing, dsl_names(typing))] == ["initial", "renewal"]
    typing += "renewal "
    assert [c.label for c in dsl_candidates(typing, dsl_names(typing))] == ["requests"]
    yaml_text = "criteria:\n  c:\n    for: "
    assert [c.label for c in yaml_candidates(yaml_text, Names())] == ["initial", "renewal"]
    policy = compile_text("p.dqm", head + "for renewal requests\n    when a\n  }\n}\n").policy
    assert policy is not None
    hover = lsp_describe.describe_criterion(policy, policy.criteria[0])
    assert "Serves renewal requests only" in hover


async def test_doses_are_completed_and_described() -> None:
    from dqmc.authoring.lsp import describe as lsp_describe
    from dqmc.authoring.lsp.complete import dsl_candidates
    from dqmc.authoring.lsp.index import dsl_names
    from dqmc.lang.pipeline import compile_text

    head = ('policy p "T" {\n  type per_days\n  product x {\n    brand "A"\n    generic "g"\n'
            '    form "tablet"\n    unit each\n    dose 1 each\n  }\n  limit x {\n    all 16 ')
    labels = [c.label for c in dsl_candidates(head, dsl_names(head))]
    assert "doses" in labels and "dose" in labels
    policy = compile_text("p.dqm", head + "doses per 30 days\n  }\n}\n").policy
    assert policy is not None
    hover = lsp_describe.describe_product(policy, policy.products[0])
    assert "One dose: 1 each (limits may count doses)" in hover


async def test_durations_as_requested_are_completed_and_described() -> None:
    from dqmc.authoring.lsp import describe as lsp_describe
    from dqmc.authoring.lsp.complete import dsl_candidates
    from dqmc.authoring.lsp.index import dsl_names
    from dqmc.lang.pipeline import compile_text

    typing = ('policy p "T" {\n  type per_days\n  fact a: bool "A?"\n'
              '  criterion c {\n    when a\n    approve requested\n    approvals last ')
    labels = [c.label for c in dsl_candidates(typing, dsl_names(typing))]
    assert "as" in labels and "one" in labels
    labels = [c.label for c in dsl_candidates(typing + "one time ", dsl_names(typing))]
    assert "or" in labels
    text = typing + "one time or as requested\n  }\n}\n"
    policy = compile_text("t.dqm", text).policy
    assert policy is not None
    hover = lsp_describe.describe_criterion(policy, policy.criteria[0])
    assert "for one fill, or until the date the request asks for" in hover


async def test_the_fallback_marker_is_completed() -> None:
    from dqmc.authoring.lsp.complete import dsl_candidates
    from dqmc.authoring.lsp.index import dsl_names

    typing = 'policy p "T" {\n  type override_guideline\n  '
    assert "applies" in [c.label for c in dsl_candidates(typing, dsl_names(typing))]


@pytest.mark.parametrize("spec", [ANZUPGO_DQM, ANZUPGO_YAML])
async def test_definitions_come_from_the_resolved_ir(spec: Path) -> None:
    """Navigation is answered by name resolution, not by a second walk of the parse tree: each
    reference of a spec, DSL or YAML, is bound to its definition, both at the id as written."""
    from dqmc.lang.ir.resolve import FACT, PRODUCT, Definition, Use
    from dqmc.lang.pipeline import compile_text

    text = spec.read_text(encoding="utf-8")
    resolved = compile_text(f"policy_specs/{spec.name}", text).resolved
    assert resolved is not None

    def cursor(needle: str, offset: int = 0, occurrence: int = 1) -> tuple[int, int]:
        position = at(text, needle, offset, occurrence)
        return position.line + 1, position.character + 1  # spans count from 1

    use = resolved.at(*cursor("severity in", 2))
    assert isinstance(use, Use) and use.kind == FACT and use.id == "severity"
    definition = resolved.definition_of(use)
    assert definition is not None and definition.kind == FACT
    assert (definition.span.line, definition.span.col) == cursor("severity")

    approved = resolved.at(*cursor("anzupgo-2pct-cream", 2, occurrence=3))
    target = resolved.definition_of(approved) if approved is not None else None
    assert target is not None and target.kind == PRODUCT
    assert (target.span.line, target.span.col) == cursor("anzupgo-2pct-cream")

    lines = text.splitlines()
    for item in (*resolved.definitions, *resolved.uses):
        span = item.span
        assert span.line == span.end_line
        assert lines[span.line - 1][span.col - 1:span.end_col - 1] == item.id, item
        if isinstance(item, Use) and item.kind != "channel":  # retail, home_delivery: built in
            assert isinstance(item.definition, Definition), item


async def test_a_use_factors_line_goes_to_and_shows_the_shared_table(
        client: LanguageClient) -> None:
    spec = REPO / "policy_specs" / "cms-partd-opioid-safety.dqm"
    shared = REPO / "policy_specs" / "shared" / "cdc-2022-mme.dqm"
    text = spec.read_text(encoding="utf-8")
    uri = open_doc(client, spec, text)
    doc = types.TextDocumentIdentifier(uri=uri)
    use = at(text, "use factors mme", 12)
    found = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc, position=use))
    assert isinstance(found, types.Location) and found.uri == shared.as_uri()
    assert found.range.start == at(shared.read_text(encoding="utf-8"), "\nfactors mme", 1)
    answer = await client.text_document_hover_async(types.HoverParams(
        text_document=doc, position=use))
    assert answer is not None
    shown = answer.contents.value  # type: ignore[union-attr]
    assert "from the shared factor file `shared/cdc-2022-mme.dqm`" in shown
    assert "- oxycodone: 1.5" in shown and "- tapentadol: 0.4" in shown
    close_doc(client, uri)


async def test_a_missing_shared_file_is_reported_at_the_use_line(
        client: LanguageClient, specs: Path) -> None:
    text = (REPO / "policy_specs" / "cms-partd-opioid-safety.dqm").read_text(encoding="utf-8")
    text = text.replace('"shared/cdc-2022-mme.dqm"', '"shared/nowhere.dqm"')
    path = specs / "opioids.dqm"
    uri = open_doc(client, path, text)
    found = await diagnostics_until(client, uri, lambda ds: bool(ds))
    [missing] = [d for d in found if d.code == "factors.no-file"]
    assert missing.range.start == at(text, "use factors mme")
    close_doc(client, uri)


async def test_an_unsaved_edit_of_a_shared_file_reaches_the_specs_that_use_it(
        client: LanguageClient) -> None:
    spec = REPO / "policy_specs" / "cms-partd-opioid-safety.dqm"
    shared = REPO / "policy_specs" / "shared" / "cdc-2022-mme.dqm"
    text = spec.read_text(encoding="utf-8")
    uri = open_doc(client, spec, text)
    shared_text = shared.read_text(encoding="utf-8")
    shared_uri = open_doc(client, shared, shared_text.replace("oxycodone 1.5", "oxycodone 0"))
    found = await diagnostics_until(
        client, uri, lambda ds: any(d.code == "factors.shared-file" for d in ds))
    [broken] = [d for d in found if d.code == "factors.shared-file"]
    assert broken.range.start == at(text, "use factors mme")
    # the shared file's own finding is published to it, at its place
    own = await diagnostics_until(
        client, shared_uri, lambda ds: any(d.code == "quantity.non-positive" for d in ds))
    assert [d.range.start for d in own if d.code == "quantity.non-positive"] == [
        at(shared_text, "oxycodone 1.5")]
    change_doc(client, shared_uri, shared_text, 2)  # fixed again: the spec is clean
    await diagnostics_until(
        client, uri, lambda ds: not any(d.code == "factors.shared-file" for d in ds))
    close_doc(client, uri)
    close_doc(client, shared_uri)
