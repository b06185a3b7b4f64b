"""Document emission: compiled policies → policy documents (Markdown, HTML), index, drugs.json.

`emit_docs` returns `{path relative to generated/docs/: text}` and writes nothing; the build
decides what to write. Output is deterministic: files come in path order, the index lists the
policies by title, each header names the source and its content hash but no time, and every file
ends with exactly one newline.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import yaml

from dqmc.codegen import docs_view, loader
from dqmc.codegen.docs_examples import Evaluate, worked_examples
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.source import Span

TEMPLATES_DIR = Path(__file__).with_name("templates")
DOCS_CONFIG_FILE = "docs.config.yaml"  # at the repository root

POLICY_MARKDOWN_TEMPLATE = "policy.md.j2"
POLICY_HTML_TEMPLATE = "policy.html"
INDEX_HTML_TEMPLATE = "index.html"
INDEX_PATH = "index.html"
DRUGS_PATH = "drugs.json"
DRUG_SEARCH_SCRIPT = "drug_search.js"

# A BCP 47 language tag, loosely: "en", "en-US", "es-419".
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")

# A policy id becomes a file name under generated/docs/, so it must not be able to leave it.
_SAFE_POLICY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class DocsConfigError(ValueError):
    """The documents configuration file is missing, malformed, or has an unknown or missing key."""


@dataclass(frozen=True, slots=True)
class DocsConfig:
    """The organisation's boilerplate printed in every published policy document."""

    organization: str
    document_heading: str
    instructions_for_use: str
    criteria_intro: str
    footer: str | None = None  # None: the documents end without a footer (the build warns)
    language: str = "en"
    origin: str | None = None  # the file it was read from; None: no file, neutral defaults


@dataclass(frozen=True, slots=True)
class Boilerplate:
    """DocsConfig as the templates show it: prose split into paragraphs."""

    organization: str
    instructions_for_use: tuple[str, ...]
    criteria_intro: tuple[str, ...]
    footer: tuple[str, ...]
    language: str


_OPTIONAL_KEYS = ("footer", "language")
_KNOWN_KEYS = tuple(f.name for f in fields(DocsConfig) if f.name != "origin")
_REQUIRED_KEYS = tuple(key for key in _KNOWN_KEYS if key not in _OPTIONAL_KEYS)


# Used when a project has no docs.config.yaml (e.g. one just made with `dqmc new`): neutral text
# that names no organisation, so a first build works and nothing in it pretends to be a plan's.
# It has no footer: the build warns (`docs_config_diagnostics`) rather than print a placeholder.
DEFAULT_DOCS_CONFIG = DocsConfig(
    organization="Health Plan",
    document_heading="DRUG QUANTITY MANAGEMENT POLICY",
    instructions_for_use=(
        "This policy explains how quantity limits apply to the drugs it names and when a larger "
        "quantity can be approved. The member's plan documents decide what the plan covers."),
    criteria_intro="A quantity above the limits in the table is covered when the criteria "
                   "below are met.",
)


def resolve_docs_config(path: str | os.PathLike[str] | None) -> DocsConfig:
    """The documents' settings a build uses: `path`, else docs.config.yaml when it exists."""
    if path is not None:
        return load_docs_config(path)
    return load_docs_config(DOCS_CONFIG_FILE, missing_ok=True)


def docs_config_diagnostics(config: DocsConfig) -> list[Diagnostic]:
    """Warnings for boilerplate the documents go without (no settings file, no footer)."""
    if config.origin is None:
        return [Diagnostic("docs.no-config",
                           f"no {DOCS_CONFIG_FILE}: the documents use neutral boilerplate that "
                           "names no organisation and have no footer; write the organisation's "
                           "own there", Span.point(DOCS_CONFIG_FILE, 1, 1))]
    if config.footer is None:
        return [Diagnostic("docs.no-footer",
                           "no 'footer': the documents end without the organisation's closing "
                           "text (ownership, copyright); add a 'footer' key",
                           Span.point(config.origin, 1, 1))]
    return []


def load_docs_config(path: str | os.PathLike[str], *, missing_ok: bool = False) -> DocsConfig:
    """Read and validate the YAML boilerplate file (its keys are documented at its top).

    With `missing_ok`, a file that does not exist gives DEFAULT_DOCS_CONFIG.
    """
    config_path = Path(path)
    if missing_ok and not config_path.exists():
        return DEFAULT_DOCS_CONFIG
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DocsConfigError(f"{config_path}: cannot read: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise DocsConfigError(f"{config_path}: not valid YAML: {error}") from error
    return docs_config_from_mapping(data, origin=str(config_path))


def docs_config_from_mapping(data: Any, *, origin: str = "<docs config>") -> DocsConfig:
    """A DocsConfig from decoded YAML, naming every problem at once."""
    if not isinstance(data, Mapping):
        raise DocsConfigError(f"{origin}: expected a mapping of keys to text")
    problems = [f"unknown key '{key}'" for key in data if key not in _KNOWN_KEYS]
    problems += [f"missing key '{key}'" for key in _REQUIRED_KEYS if key not in data]
    problems += [
        f"key '{key}' must be non-empty text"
        for key in _KNOWN_KEYS
        if key in data and (not isinstance(data[key], str) or not data[key].strip())
    ]
    language = data.get("language")
    if (
        isinstance(language, str)
        and language.strip()
        and not _LANGUAGE_TAG.fullmatch(language.strip())
    ):
        problems.append(
            f"key 'language' must be a language tag such as 'en' or 'en-US', not {language!r}"
        )
    if problems:
        raise DocsConfigError(f"{origin}: " + "; ".join(problems))
    return DocsConfig(**{key: data[key].strip() for key in _KNOWN_KEYS if key in data},
                      origin=origin)


def boilerplate(config: DocsConfig) -> Boilerplate:
    return Boilerplate(
        organization=config.organization,
        instructions_for_use=docs_view.paragraphs(config.instructions_for_use),
        criteria_intro=docs_view.paragraphs(config.criteria_intro),
        footer=docs_view.paragraphs(config.footer) if config.footer else (),
        language=config.language,
    )


# ---------------------------------------------------------------------------------------------
# Escaping


_MARKDOWN_INLINE_SPECIALS = re.compile(r"[\\`*_\[\]|~$&]")
_MARKDOWN_ANGLES = {"<": "&lt;", ">": "&gt;"}
# At the start of a line these open a heading, list, rule or setext underline; an ordered-list
# marker ("1." or "1)") only counts when a space or the end follows, so "0.05%" is left alone.
_MARKDOWN_BLOCK_START = re.compile(r"^(?:[#+\-=]|\d{1,9}[.)](?=\s|$))")


def md_escape(value: object) -> str:
    """Spec text made inert inline Markdown: one line, no emphasis, links, HTML, or table breaks.

    Every whitespace run (newlines included) becomes one space, so the text can sit in a table
    cell or list item; characters Markdown would interpret are backslash-escaped, `<` and `>`
    become entities (no raw HTML), and a line-start marker (`#`, `-`, `1.`) is neutralised.
    """
    text = " ".join(str(value).split())
    text = _MARKDOWN_INLINE_SPECIALS.sub(lambda match: "\\" + match.group(0), text)
    text = "".join(_MARKDOWN_ANGLES.get(char, char) for char in text)
    block_start = _MARKDOWN_BLOCK_START.match(text)
    if block_start:
        marker = block_start.group(0)
        text = f"{marker[:-1]}\\{marker[-1]}{text[len(marker) :]}"
    return text


def md_table_row(cells: Sequence[str | Sequence[str]]) -> str:
    """A Markdown table row; a cell of several entries shows them on separate lines (`<br>`)."""
    rendered = []
    for cell in cells:
        if isinstance(cell, str):
            rendered.append(md_escape(cell))
        else:
            rendered.append("<br>".join(md_escape(entry) for entry in cell) or docs_view.EMPTY_CELL)
    return f"| {' | '.join(rendered)} |"


def md_table_rule(column_count: int) -> str:
    """The header separator row of a Markdown table with `column_count` columns."""
    return "|" + "---|" * column_count


def _comment_safe(text: str) -> str:
    """Text that cannot end or nest an HTML comment (`--` becomes `- -`)."""
    # A spec's file name reaches the header as it is: neutralise controls and bidi overrides as
    # the templates' `finalize` does, so the first line of a document shows what it says.
    text = " ".join(text.translate(_INVISIBLE).split())
    while "--" in text:
        text = text.replace("--", "- -")
    return text


def generated_header(sources: Sequence[tuple[str, str]], version: str) -> str:
    """`<!-- @generated by dqmc <version> from <source> (<hash>). DO NOT EDIT. -->`, one line."""
    origin = (
        ", ".join(f"{source} ({content_hash})" for source, content_hash in sources) or "no sources"
    )
    return f"<!-- {_comment_safe(f'@generated by dqmc {version} from {origin}. DO NOT EDIT.')} -->"


# ---------------------------------------------------------------------------------------------
# Rendering


# Characters spec text may hold (the front ends keep any text) that a document must not show raw:
# control characters (NUL is a parse error in HTML and ESC starts terminal sequences when a
# Markdown file is printed) and the bidi embedding, override and isolate controls, which would
# make the published text display in another order than the spec states it ("Trojan Source").
# Each becomes U+FFFD, as the diagnostics renderer shows them, so the reader sees something is
# there. Tabs and line breaks are kept: paragraphs() and one_line() fold them.
_INVISIBLE = dict.fromkeys(
    [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0),
     *range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0xD800, 0xE000)], "\ufffd")


def neutralize(value: object) -> object:
    """Every `{{ ... }}` of a document template passes here before escaping (Jinja `finalize`)."""
    return value.translate(_INVISIBLE) if isinstance(value, str) else value


@functools.cache
def docs_environment() -> jinja2.Environment:
    """The Jinja environment for documents: strict, autoescaping `*.html` templates only."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
        finalize=neutralize,
    )
    environment.filters["md_escape"] = md_escape
    environment.filters["md_table_row"] = md_table_row
    environment.filters["md_table_rule"] = md_table_rule
    environment.globals["empty_cell"] = docs_view.EMPTY_CELL
    return environment


def _finish(header: str, body: str) -> str:
    return f"{header}\n{body.strip()}\n"


def render_policy(compiled: CompiledPolicy, config: DocsConfig, *, version: str,
                  evaluate: Evaluate,
                  revision_summaries: Mapping[int, str] | None = None) -> tuple[str, str]:
    """One policy's (Markdown, HTML) documents; `evaluate` decides its worked examples."""
    environment = docs_environment()
    header = generated_header([(compiled.source, compiled.content_hash)], version)
    context = {
        "doc": docs_view.policy_document(compiled.policy, base_heading=config.document_heading,
                                         revision_summaries=revision_summaries,
                                         examples=worked_examples(compiled, evaluate)),
        "org": boilerplate(config),
        "index_href": INDEX_PATH,
        "script_hash": None,
    }
    markdown = environment.get_template(POLICY_MARKDOWN_TEMPLATE).render(context)
    html = environment.get_template(POLICY_HTML_TEMPLATE).render(context)
    return _finish(header, markdown), _finish(header, html)


@functools.cache
def drug_search_script() -> tuple[markupsafe.Markup, str]:
    """The index's search script and its CSP source ('sha256-...'), which allows it alone."""
    text = (TEMPLATES_DIR / DRUG_SEARCH_SCRIPT).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    # Markup: our own script, placed as it is (escaping would change the hashed bytes).
    return markupsafe.Markup(text), f"sha256-{digest}"


def render_index(compiled: Sequence[CompiledPolicy], config: DocsConfig, *, version: str) -> str:
    """The index page: the drug lookup and every policy, with relative links to its documents."""
    entries = docs_view.index_entries(compiled)
    by_id = {item.policy.id: item for item in compiled}
    header = generated_header(
        [(by_id[entry.id].source, by_id[entry.id].content_hash) for entry in entries], version
    )
    script, script_hash = drug_search_script()
    html = (
        docs_environment()
        .get_template(INDEX_HTML_TEMPLATE)
        .render({"entries": entries, "org": boilerplate(config),
                 "drugs": docs_view.drug_rows(compiled), "script": script,
                 "script_hash": script_hash})
    )
    return _finish(header, html)


def render_drugs_json(compiled: Sequence[CompiledPolicy], *, version: str) -> str:
    """drugs.json: the drug lookup as data, for a payer's own site; ASCII, so no spec text can
    hide a control character in it."""
    ordered = sorted(compiled, key=lambda item: item.policy.id)
    sources = ", ".join(f"{item.source} ({item.content_hash})" for item in ordered)
    document = {
        "@generated": f"by dqmc {version} from {sources or 'no sources'}. DO NOT EDIT.",
        "drugs": [
            {
                "product": row.product_id, "brand": row.brand, "generic": row.generic,
                "strength": row.strength or None, "form": row.form,
                "policy": row.policy_id, "policy_title": row.policy_title,
                "limits": [{"channel": limits.channel, "channel_label": limits.label,
                            "limits": list(limits.entries)} for limits in row.limits],
                "exceptions": row.exceptions, "document": row.href,
            }
            for row in docs_view.drug_rows(compiled)
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def emit_docs(
    compiled: Sequence[CompiledPolicy], config: DocsConfig, *, version: str,
    revision_summaries: Mapping[str, Mapping[int, str]] | None = None,
    evaluate: Evaluate | None = None,
) -> dict[str, str]:
    """Every document of `generated/docs/`: `<id>.md`, `<id>.html` per policy, `index.html` and
    `drugs.json`.

    `revision_summaries` holds, by policy id, generated summaries of revision rows (see
    `docs_view.policy_document`). `evaluate` is the generated package's `evaluate`, which
    decides the worked examples; without it, the package is generated and loaded here.

    Raises:
        ValueError: a policy id is not a safe file name, or two policies share an id.
    """
    if evaluate is None:
        with loader.loaded_files(loader.emitted_files(compiled)) as package:
            return emit_docs(compiled, config, version=version,
                             revision_summaries=revision_summaries, evaluate=package.evaluate)
    ids = [item.policy.id for item in compiled]
    unsafe = [policy_id for policy_id in ids if not _SAFE_POLICY_ID.fullmatch(policy_id)]
    if unsafe:
        raise ValueError(
            f"policy ids cannot be document file names: {', '.join(map(repr, unsafe))}"
        )
    # Compared case-insensitively: on macOS and Windows "A.html" and "a.html" are one file.
    folded = [policy_id.casefold() for policy_id in ids]
    duplicates = sorted({policy_id for policy_id in ids if folded.count(policy_id.casefold()) > 1})
    if duplicates:
        raise ValueError(f"policy ids are not unique: {', '.join(duplicates)}")
    if INDEX_PATH in (docs_view.document_paths(policy_id)[0] for policy_id in folded):
        raise ValueError(f"a policy id would overwrite the index page {INDEX_PATH}")
    documents: dict[str, str] = {INDEX_PATH: render_index(compiled, config, version=version),
                                 DRUGS_PATH: render_drugs_json(compiled, version=version)}
    for item in compiled:
        markdown, html = render_policy(
            item, config, version=version, evaluate=evaluate,
            revision_summaries=(revision_summaries or {}).get(item.policy.id),
        )
        html_path, markdown_path = docs_view.document_paths(item.policy.id)
        documents[html_path] = html
        documents[markdown_path] = markdown
    return dict(sorted(documents.items()))
