"""`dqmc lsp`: a language server (pygls, stdio) for `.dqm` and YAML policy specs.

Diagnostics are `dqmc check`'s own: the open document is compiled together with the other specs
of its folder, open documents from the editor's text and the rest from disk, through the same
pipeline functions, so codes, spans and messages match and cross-file findings (a YAML twin that
disagrees, a product covered by two policies) appear while typing. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dqmc import __version__

if TYPE_CHECKING:  # `dqmc` builds its parser from this module: keep importing it cheap
    from dqmc.lang.diagnostics import Diagnostic
    from dqmc.lang.pipeline import CompileResult, FileResult
    from dqmc.lang.source import SourceFile, Span

log = logging.getLogger("dqmc.authoring.lsp.server")

T = TypeVar("T")


_POLICY_YAML = re.compile(r"^policy\s*:|policy\.schema\.json", re.MULTILINE)


def is_policy_yaml(text: str) -> bool:
    """Whether a YAML text is meant as a policy spec: a top-level `policy:` key or the modeline."""
    return _POLICY_YAML.search(text) is not None


def normalise(text: str) -> str:
    """Editor text as `dqmc check` reads the file: no BOM, `\\n` line breaks only."""
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- compiling with the editor's unsaved text --------------------------------------------------


def compile_folder(spec: Path, open_texts: dict[Path, str]) -> CompileResult:
    """What `dqmc check` would report for the spec's folder if every open document were saved.

    `open_texts` maps absolute paths to editor text; every other spec is read from disk. The
    spec itself is included even when it does not exist on disk yet (a new, unsaved file). The
    shared factor files the specs use are read from `open_texts` too when open there.
    """
    from dqmc.lang.diagnostics import has_errors, sorted_unique
    from dqmc.lang.pipeline import (
        CompileResult,
        FileResult,
        compile_source,
        discover,
        display_path,
        folder_reader,
        link,
        read_source,
    )
    from dqmc.lang.source import SourceFile
    from dqmc.lang.verify.claim_space import verify_policy

    def reader(spec_path: Path) -> Any:
        on_disk = folder_reader(display_path(spec_path))

        def read(relative: str) -> tuple[SourceFile | None, list[Diagnostic]]:
            try:
                target = (spec_path.parent / relative).resolve()
            except (OSError, ValueError):  # a NUL or an unresolvable path: no such file
                return None, []
            text = open_texts.get(target)
            if text is None:
                return on_disk(relative)
            return SourceFile(display_path(target), normalise(text)), []

        return read

    folder = spec.parent
    paths, problems = discover([folder]) if folder.is_dir() else ([], [])
    wanted = {p.resolve() for p in paths} | {spec}
    files: list[FileResult] = []
    for path in sorted(wanted, key=lambda p: p.as_posix()):
        text = open_texts.get(path)
        if text is not None:
            files.append(compile_source(SourceFile(display_path(path), normalise(text)),
                                        reader(path)))
            continue
        source, read_problems = read_source(path)
        if source is None:
            files.append(FileResult(None, display_path(path), None, read_problems))
        else:
            files.append(compile_source(source, reader(path)))
    # The cross-file stage exactly as compile_paths runs it, on the files compiled above.
    linkable = [f for f in files if f.policy is not None and not has_errors(f.diagnostics)]
    cross, compiled = link(linkable)
    # and verification, as `dqmc check` runs it (pipeline.verify_paths)
    verified = [d for item in compiled for d in verify_policy(item.policy)]
    diagnostics = sorted_unique(problems + cross + verified
                                + [d for f in files for d in f.diagnostics])
    return CompileResult(files, diagnostics, [] if has_errors(diagnostics) else compiled)


# -- the server --------------------------------------------------------------------------------


@dataclass
class Analysis:
    """One document's text, compiled alone (for hover and navigation) and indexed."""

    source: SourceFile
    result: FileResult
    index: Any  # lsp_index.SpecIndex | None


def build_server() -> Any:
    """The language server with every feature registered; pygls is imported only here."""
    from lsprotocol import types
    from pygls.lsp.server import LanguageServer
    from pygls.uris import from_fs_path, to_fs_path

    from dqmc.authoring.fmt import InternalFormatError, format_source
    from dqmc.authoring.lsp.complete import (
        CHANNEL_ITEM,
        ID_REF,
        KEYWORD,
        TYPE,
        UNIT,
        VALUE,
        dsl_candidates,
        word_start,
        yaml_candidates,
    )
    from dqmc.authoring.lsp.describe import (
        describe,
        describe_rule_at,
        describe_used_table,
        used_table_at,
    )
    from dqmc.authoring.lsp.index import Occurrence, dsl_names, index_names, index_spec
    from dqmc.lang.diagnostics import Severity
    from dqmc.lang.frontend.shared_factors import is_factors_file
    from dqmc.lang.ir.resolve import Use
    from dqmc.lang.pipeline import DSL_SUFFIXES, FileResult, compile_source, display_path, is_spec
    from dqmc.lang.source import SourceFile

    # Full sync: specs are small, and the server then never splits lines differently from
    # the editor when applying an edit (LSP breaks lines only at \n, \r\n and \r).
    server = LanguageServer("dqmc", __version__,
                            text_document_sync_kind=types.TextDocumentSyncKind.Full)
    analyses: dict[str, Analysis] = {}
    published: set[str] = set()  # URIs whose last published diagnostics were not empty
    last_names: dict[str, Any] = {}  # per URI: the ids of the last text that indexed

    severity = {Severity.ERROR: types.DiagnosticSeverity.Error,
                Severity.WARNING: types.DiagnosticSeverity.Warning,
                Severity.NOTE: types.DiagnosticSeverity.Information}
    item_kind = {KEYWORD: types.CompletionItemKind.Keyword,
                 ID_REF: types.CompletionItemKind.Reference,
                 UNIT: types.CompletionItemKind.Unit,
                 VALUE: types.CompletionItemKind.EnumMember,
                 CHANNEL_ITEM: types.CompletionItemKind.Value,
                 TYPE: types.CompletionItemKind.TypeParameter}
    symbol_kind = {"policy": types.SymbolKind.Module, "product": types.SymbolKind.Class,
                   "package": types.SymbolKind.Field, "group": types.SymbolKind.Namespace,
                   "limit": types.SymbolKind.Object, "fact": types.SymbolKind.Variable,
                   "criterion": types.SymbolKind.Function, "channel": types.SymbolKind.EnumMember,
                   "section": types.SymbolKind.String}

    # Positions: the compiler counts code points from 1, the client in its negotiated units.

    def client_position(source: SourceFile | None, line: int, col: int) -> types.Position:
        if source is None:
            return types.Position(line=max(line - 1, 0), character=max(col - 1, 0))
        text = source.line_text(line)
        codec = server.workspace.position_codec
        return types.Position(line=max(line - 1, 0),
                              character=codec.client_num_units(text[: max(col - 1, 0)]))

    def client_range(source: SourceFile | None, span: Span) -> types.Range:
        return types.Range(start=client_position(source, span.line, span.col),
                           end=client_position(source, span.end_line, span.end_col))

    def server_position(source: SourceFile, position: types.Position) -> tuple[int, int]:
        """The 1-based (line, col) in code points of a client position."""
        text = source.line_text(position.line + 1)
        codec = server.workspace.position_codec
        units, col = 0, 0
        for char in text:
            if units >= position.character:
                break
            units += codec.client_num_units(char)
            col += 1
        return position.line + 1, col + 1

    # Documents.

    def path_of(uri: str) -> Path | None:
        path = to_fs_path(uri) if uri.startswith("file:") else None
        return Path(path).resolve() if path else None

    def spec_name(uri: str, document: Any) -> str | None:
        """The path diagnostics name the document by; None when it is not a policy spec."""
        path = path_of(uri)
        if path is not None:
            name = display_path(path) if is_spec(path) else None
        else:  # an unsaved buffer: its language says which front end reads it
            name = uri.rsplit("/", 1)[-1] or "untitled"
            suffix = ".dqm" if (document.language_id or "").lower() == "dqm" else ".yaml"
            name = name if name.endswith((".dqm", ".yaml", ".yml")) else name + suffix
        if name is not None and not name.endswith(DSL_SUFFIXES) and not is_policy_yaml(
                document.source):
            return None  # some other YAML file an editor sent along: not ours to judge
        return name

    def analyse(uri: str) -> Analysis | None:
        document = server.workspace.get_text_document(uri)
        name = spec_name(uri, document)
        if name is None:
            return None
        text = normalise(document.source)
        cached = analyses.get(uri)
        if cached is not None and cached.source.text == text and cached.source.path == name:
            return cached
        source = SourceFile(name, text)
        result = guarded(lambda: compile_source(source), None, "compiling")
        if result is None:
            result = FileResult(source, name, None, [])
        index = guarded(lambda: index_spec(source), None, "indexing")
        analysis = Analysis(source, result, index)
        analyses[uri] = analysis
        if index is not None:
            last_names[uri] = index_names(index)
        return analysis

    def guarded(work: Callable[[], T], fallback: T, what: str) -> T:
        # A compiler bug met on a half-typed document must cost one answer, not the server.
        try:
            return work()
        except Exception as exc:  # logged with its traceback, answered with nothing
            log.exception("dqmc lsp: internal error while %s", what)
            # The editor's output panel shows it too, so a user can report the spec that did it.
            server.window_log_message(types.LogMessageParams(
                type=types.MessageType.Error,
                message=f"dqmc lsp: internal error while {what}: {type(exc).__name__}: {exc}"))
            return fallback

    # Diagnostics.

    def publish_for(uri: str) -> None:
        document = server.workspace.get_text_document(uri)
        name = spec_name(uri, document)
        if name is None:
            return
        path = path_of(uri)
        if path is None:  # an unsaved buffer is checked on its own
            alone = guarded(lambda: compile_source(SourceFile(name, normalise(document.source))),
                            None, "compiling")
            if alone is not None:
                send({uri: (alone.source, alone.diagnostics)}, uri)
            return
        open_texts, open_uris = {}, {}
        for other in list(server.workspace.text_documents):
            other_path = path_of(other)
            if other_path is None:
                continue
            # every open file: a spec of this folder, or a shared factor file one of them uses
            open_texts[other_path] = server.workspace.get_text_document(other).source
            if other_path.parent == path.parent:
                open_uris[other_path] = other
        result = guarded(lambda: compile_folder(path, open_texts), None, "checking the folder")
        if result is None:
            return
        # An open document keeps the URI its editor spelled; files on disk get their own.
        uri_of = {}
        for f in result.files:
            resolved = Path(f.path).resolve()
            uri_of[f.path] = open_uris.get(resolved) or from_fs_path(str(resolved))
        by_uri: dict[str, tuple[SourceFile | None, list[Diagnostic]]] = {
            uri_of[f.path]: (f.source, []) for f in result.files}
        # A shared factor file's own findings go to it, not to the policy that uses it.
        for shared in result.shared_files:
            shared_uri = from_fs_path(str(Path(shared.path).resolve()))
            uri_of[shared.path] = shared_uri
            by_uri.setdefault(shared_uri, (shared, []))
        by_uri.setdefault(uri, (None, []))
        for diagnostic in result.diagnostics:
            target = uri_of.get(diagnostic.span.file, uri)
            by_uri.setdefault(target, (None, []))[1].append(diagnostic)
        send(by_uri, uri)

    def send(by_uri: dict[str, tuple[SourceFile | None, list[Diagnostic]]], edited: str) -> None:
        """Publish for the edited document always, for others when there is news for them."""
        for target, (source, diagnostics) in by_uri.items():
            if not diagnostics and target not in published and target != edited:
                continue
            version = None
            if target in server.workspace.text_documents:
                version = server.workspace.get_text_document(target).version
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
                uri=target, version=version,
                diagnostics=[to_lsp(source, d) for d in diagnostics]))
            (published.add if diagnostics else published.discard)(target)

    def to_lsp(source: SourceFile | None, d: Diagnostic) -> types.Diagnostic:
        return types.Diagnostic(range=client_range(source, d.span), message=d.message,
                                severity=severity[d.severity],  # type: ignore[index]
                                code=d.code, source="dqmc")

    @server.feature(types.INITIALIZED)
    def initialized(params: types.InitializedParams) -> None:
        # Diagnostics name files relative to the working directory: from the workspace root
        # they read as `dqmc check` run there prints them.
        root = server.workspace.root_path
        if root and Path(root).is_dir():
            os.chdir(root)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        publish_with_users(params.text_document.uri)

    def publish_with_users(uri: str) -> None:
        """Diagnostics of the document and, when it is a shared factor file, of every other open
        spec (any of them may use it; each compiles with its unsaved text)."""
        publish_for(uri)
        document = server.workspace.get_text_document(uri)
        name = spec_name(uri, document)
        if name is None or not is_factors_file(SourceFile(name, normalise(document.source))):
            return
        for other in list(server.workspace.text_documents):
            if other != uri:
                publish_for(other)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        publish_with_users(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        publish_with_users(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        analyses.pop(uri, None)
        last_names.pop(uri, None)
        # The closed file now counts as it is on disk; an open neighbour re-checks the folder.
        path = path_of(uri)
        for other in list(server.workspace.text_documents):
            other_path = path_of(other)
            if path is not None and other_path is not None and other_path.parent == path.parent:
                publish_for(other)
                return
        if uri in published:
            server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
            published.discard(uri)

    # Hover, navigation, outline.

    def reference_at(uri: str, position: types.Position) -> tuple[Analysis, Any] | None:
        """The definition or reference under the cursor, from the resolved IR."""
        analysis = analyse(uri)
        resolved = analysis.result.resolved if analysis is not None else None
        if analysis is None or resolved is None:
            return None
        line, col = server_position(analysis.source, position)
        found = resolved.at(line, col)
        return (analysis, found) if found is not None else None

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(params: types.HoverParams) -> types.Hover | None:
        def answer() -> types.Hover | None:
            analysis = analyse(params.text_document.uri)
            policy = analysis.result.policy if analysis is not None else None
            if analysis is None or policy is None:
                return None
            line, col = server_position(analysis.source, params.position)
            if (used := used_table_at(policy, line, col)) is not None:
                return types.Hover(
                    contents=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                                 value=describe_used_table(used)),
                    range=client_range(analysis.source, used.span))
            resolved = analysis.result.resolved
            named = resolved.at(line, col) if resolved is not None else None
            definition = resolved.definition_of(named) if resolved and named else None
            # ids the resolved IR does not bind (enum values, the policy's id) from the index
            found = (Occurrence(definition.kind, definition.id, named.span, True,
                                definition.owner)
                     if definition is not None and named is not None
                     else analysis.index.at(line, col) if analysis.index is not None else None)
            text, span = None, None
            if found is not None:
                text, span = describe(policy, found), found.span
            if text is None:
                text = describe_rule_at(policy, line, col)
            if text is None:
                return None
            return types.Hover(
                contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                range=client_range(analysis.source, span) if span is not None else None)
        return guarded(answer, None, "hovering")

    def shared_definition(uri: str, position: types.Position) -> types.Location | None:
        """A `use factors` line's table where its shared factor file defines it."""
        analysis = analyse(uri)
        policy = analysis.result.policy if analysis is not None else None
        if analysis is None or policy is None:
            return None
        used = used_table_at(policy, *server_position(analysis.source, position))
        if used is None or not used.factors:  # not taken: the file or the table is missing
            return None
        where = used.defined_at
        source = next((s for s in analysis.result.shared if s.path == where.file), None)
        return types.Location(uri=from_fs_path(str(Path(where.file).resolve())),
                              range=client_range(source, where))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(params: types.DefinitionParams) -> types.Location | None:
        def answer() -> types.Location | None:
            if (shared := shared_definition(params.text_document.uri, params.position)):
                return shared
            hit = reference_at(params.text_document.uri, params.position)
            if hit is None:
                return None
            analysis, found = hit
            assert analysis.result.resolved is not None
            target = analysis.result.resolved.definition_of(found)
            if target is None:
                return None
            return types.Location(uri=params.text_document.uri,
                                  range=client_range(analysis.source, target.span))
        return guarded(answer, None, "finding a definition")

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(params: types.ReferenceParams) -> list[types.Location]:
        def answer() -> list[types.Location]:
            hit = reference_at(params.text_document.uri, params.position)
            if hit is None:
                return []
            analysis, found = hit
            assert analysis.result.resolved is not None
            return [types.Location(uri=params.text_document.uri,
                                   range=client_range(analysis.source, o.span))
                    for o in analysis.result.resolved.same_symbol(found)
                    if params.context.include_declaration or isinstance(o, Use)]
        return guarded(answer, [], "finding references")

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbols(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        def convert(source: SourceFile, item: Any) -> types.DocumentSymbol:
            return types.DocumentSymbol(
                name=item.name or item.kind, detail=item.detail or None,
                kind=symbol_kind.get(item.kind, types.SymbolKind.Object),
                range=client_range(source, item.span),
                selection_range=client_range(source, item.selection),
                children=[convert(source, child) for child in item.children])

        def answer() -> list[types.DocumentSymbol]:
            analysis = analyse(params.text_document.uri)
            if analysis is None or analysis.index is None:
                return []
            return [convert(analysis.source, item) for item in analysis.index.outline]
        return guarded(answer, [], "listing symbols")

    # Completion and formatting.

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[" ", "{", ",", "="]))
    def completion(params: types.CompletionParams) -> types.CompletionList:
        def answer() -> types.CompletionList:
            uri = params.text_document.uri
            document = server.workspace.get_text_document(uri)
            name = spec_name(uri, document)
            if name is None:
                return types.CompletionList(is_incomplete=False, items=[])
            source = SourceFile(name, normalise(document.source))
            line, col = server_position(source, params.position)
            before = source.text[: source.offset(line, col)]
            if name.endswith(DSL_SUFFIXES):
                candidates = dsl_candidates(before, dsl_names(source.text))
            else:
                analyse(uri)  # refreshes the ids when the YAML still composes
                names = last_names.get(uri)
                candidates = yaml_candidates(before, names) if names is not None else []
            line_text = source.line_text(line)[: col - 1]
            start = client_position(source, line, word_start(line_text) + 1)
            end = client_position(source, line, col)
            replace = types.Range(start=start, end=end)
            items = [types.CompletionItem(
                label=c.label, kind=item_kind.get(c.kind), detail=c.detail or None,
                text_edit=types.TextEdit(range=replace, new_text=c.label),
                sort_text=f"{0 if c.kind != KEYWORD else 1}{c.label}") for c in candidates]
            return types.CompletionList(is_incomplete=False, items=items)
        return guarded(answer, types.CompletionList(is_incomplete=False, items=[]), "completing")

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        def answer() -> list[types.TextEdit] | None:
            uri = params.text_document.uri
            document = server.workspace.get_text_document(uri)
            name = spec_name(uri, document)
            if name is None or not name.endswith(DSL_SUFFIXES):
                return None  # `dqmc fmt` formats DSL specs; YAML keeps the author's layout
            source = SourceFile(name, normalise(document.source))
            try:
                text, _ = format_source(source)
            except InternalFormatError as exc:
                server.window_show_message(types.ShowMessageParams(
                    type=types.MessageType.Error,
                    message=f"dqmc fmt left the file as it is: {exc}"))
                return None
            if text is None or text == source.text:
                return []  # does not lower (the diagnostics say why), or already formatted
            # Replace the whole document, up to the end of its last line in the client's units.
            last = source.line_count
            end = client_position(source, last, len(source.line_text(last)) + 1)
            return [types.TextEdit(range=types.Range(start=types.Position(line=0, character=0),
                                                     end=end), new_text=text)]
        return guarded(answer, None, "formatting")

    return server


# -- command line ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true",
                        help="talk over standard input and output (the default and only transport)")
    parser.add_argument("--log-file", metavar="FILE",
                        help="write the server's log here (stdout carries the protocol)")


def run(args: argparse.Namespace) -> int:
    try:
        import pygls  # noqa: F401
    except ImportError:
        print("dqmc: error: the language server needs pygls: pip install 'dqmc[lsp]'",
              file=sys.stderr)
        return 2
    logging.basicConfig(filename=args.log_file,
                        level=logging.INFO if args.log_file else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_server().start_io()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m dqmc.authoring.lsp.server`, for editors that start the server without the
    `dqmc` script."""
    parser = argparse.ArgumentParser(prog="dqmc lsp", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
