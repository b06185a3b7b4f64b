"""Machine-readable renderings of diagnostics: JSON for tools, GitHub annotations, SARIF 2.1.0."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from dqmc import __version__
from dqmc.lang.diagnostics import CODES, Diagnostic, Severity

# `dqmc check --format ...`: `text` is the caret rendering of dqmc.lang.diagnostics, the rest
# live here.
FORMATS: tuple[str, ...] = ("text", "json", "github", "sarif")

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as `dqmc check --format json` prints it (field names are a contract)."""
    s = d.span
    return {"file": s.file, "line": s.line, "column": s.col, "end_line": s.end_line,
            "end_column": s.end_col, "severity": d.severity.value,  # type: ignore[union-attr]
            "code": d.code, "message": d.message}


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps([diagnostic_json(d) for d in diagnostics], indent=2)


# -- GitHub workflow commands ----------------------------------------------------------------


def _escape_github_data(text: str) -> str:
    # The runner splits a command at line breaks and decodes %XX: these three must be encoded.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_github_property(text: str) -> str:
    # In `key=value,key=value::` a property value must also not end the list or the properties.
    return _escape_github_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(d: Diagnostic) -> str:
    """`::error file=...,line=...,col=...,endLine=...,endColumn=...,title=dqmc CODE::MESSAGE`."""
    s = d.span
    properties = {"file": s.file, "line": s.line, "col": s.col, "endLine": s.end_line,
                  "endColumn": s.end_col, "title": f"dqmc {d.code}"}
    listed = ",".join(f"{key}={_escape_github_property(str(value))}"
                      for key, value in properties.items())
    return f"::{_GITHUB_COMMAND[d.severity]}{' ' + listed}::{_escape_github_data(d.message)}"  # type: ignore[index]


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    return "\n".join(github_annotation(d) for d in diagnostics)


# -- SARIF 2.1.0 -------------------------------------------------------------------------------


def _artifact_uri(path: str) -> str:
    # A SARIF uri is a URI reference: a relative path, percent-encoded, resolved from the root.
    return quote(path, safe="/")


def sarif_log(diagnostics: Sequence[Diagnostic]) -> dict[str, Any]:
    """A SARIF log of one run: a rule per code that occurs, a result per diagnostic."""
    codes = sorted({d.code for d in diagnostics})
    rule_index = {code: index for index, code in enumerate(codes)}
    rules = [{
        "id": code,
        "name": code,
        "shortDescription": {"text": CODES[code][1]},
        "defaultConfiguration": {"level": _SARIF_LEVEL[CODES[code][0]]},
    } for code in codes]
    results = []
    for d in diagnostics:
        s = d.span
        results.append({
            "ruleId": d.code,
            "ruleIndex": rule_index[d.code],
            "level": _SARIF_LEVEL[d.severity],  # type: ignore[index]
            "message": {"text": d.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _artifact_uri(s.file)},
                "region": {"startLine": s.line, "startColumn": s.col,
                           "endLine": s.end_line, "endColumn": s.end_col},
            }}],
        })
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "dqmc", "version": __version__, "rules": rules}},
            # dqmc counts columns in Unicode code points; SARIF's default is UTF-16 code units.
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def render_sarif(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps(sarif_log(diagnostics), indent=2)


RENDERERS: dict[str, Callable[[Sequence[Diagnostic]], str]] = {
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
}


def render_report(diagnostics: Sequence[Diagnostic], fmt: str) -> str:
    """The diagnostics in a machine format (`json`, `github`, `sarif`), with no final newline."""
    return RENDERERS[fmt](diagnostics)
