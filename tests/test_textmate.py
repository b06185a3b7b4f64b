"""The TextMate grammar for `.dqm`: every keyword of grammar/dqm.lark highlighted, ids not."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import REPO

from dqmc.lang.frontend.dsl_parse import parser

GRAMMAR = REPO / "editors" / "dqm.tmLanguage.json"
KEYWORD_SCOPES = ("keyword.", "storage.type.", "constant.language.")
SYMBOL_SCOPES = ("keyword.operator.", "punctuation.")


@functools.lru_cache(maxsize=1)
def grammar() -> dict[str, Any]:
    return json.loads(GRAMMAR.read_text(encoding="utf-8"))


def literals() -> list[str]:
    """Every string literal of grammar/dqm.lark, as Lark compiled it."""
    return sorted(t.pattern.value for t in parser().terminals if t.pattern.type == "str")


def match_patterns(rule: dict[str, Any], repository: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every pattern reachable from `rule`, includes resolved, in the grammar's order."""
    if "include" in rule:
        yield from match_patterns(repository[rule["include"].lstrip("#")], repository)
        return
    if "match" in rule or "begin" in rule:
        yield rule
    for child in rule.get("patterns", []):
        yield from match_patterns(child, repository)


def scoped(pattern: dict[str, Any]) -> list[tuple[re.Pattern[str], int, str]]:
    """(regex, group, scope) for the scopes a `match` pattern gives: whole match or captures."""
    regex = re.compile(pattern["match"])
    out = [(regex, 0, pattern["name"])] if "name" in pattern else []
    out += [(regex, int(group), capture["name"])
            for group, capture in pattern.get("captures", {}).items()]
    return out


@functools.lru_cache(maxsize=1)
def all_patterns() -> list[dict[str, Any]]:
    g = grammar()
    return [p for top in g["patterns"] for p in match_patterns(top, g["repository"])]


def scopes_covering(word: str, prefixes: tuple[str, ...]) -> list[str]:
    """The scopes that mark exactly `word`, written alone between spaces, as a keyword/symbol."""
    text = f" {word} "
    found = []
    for pattern in all_patterns():
        if "match" not in pattern:
            continue
        for regex, group, scope in scoped(pattern):
            for match in regex.finditer(text):
                if match.group(group) == word and scope.startswith(prefixes):
                    found.append(scope)
    return found


# A TextMate tokenizer for this grammar's shape (one-line matches, begin/end strings): at each
# position the pattern matching earliest wins, ties going to the first in the grammar.


def tokenize(line: str) -> list[tuple[str, str]]:
    flat = all_patterns()
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(line):
        best = None
        for pattern in flat:
            regex = re.compile(pattern.get("match") or pattern["begin"])
            match = regex.search(line, position)
            earliest = best is None or (match is not None and match.start() < best[1].start())
            if match and match.end() > match.start() and earliest:
                best = (pattern, match)
        if best is None:
            break
        pattern, match = best
        if "begin" in pattern:
            end = re.compile(pattern["end"]).search(line, match.end())
            stop = end.end() if end else len(line)
            tokens.append((line[match.start():stop], pattern["name"]))
            position = stop
            continue
        groups = [(int(g), c["name"]) for g, c in pattern.get("captures", {}).items()]
        if groups:
            tokens += [(match.group(g), name) for g, name in sorted(groups) if match.group(g)]
        else:
            tokens.append((match.group(0), pattern["name"]))
        position = match.end()
    return tokens


# -- tests -------------------------------------------------------------------------------------


def test_the_grammar_is_wired_for_dqm_files() -> None:
    g = grammar()
    assert g["scopeName"] == "source.dqm" and g["fileTypes"] == ["dqm"]
    for pattern in all_patterns():  # Python's re reads these as Oniguruma does
        for key in ("match", "begin", "end"):
            if key in pattern:
                re.compile(pattern[key])


@pytest.mark.parametrize("word", [w for w in literals() if re.fullmatch(r"[a-z_]+", w)])
def test_every_keyword_of_the_lark_grammar_is_highlighted(word: str) -> None:
    assert scopes_covering(word, KEYWORD_SCOPES), f"'{word}' has no keyword pattern"


@pytest.mark.parametrize("symbol", [w for w in literals() if not re.fullmatch(r"[a-z_]+", w)])
def test_every_operator_and_bracket_of_the_lark_grammar_is_highlighted(symbol: str) -> None:
    assert scopes_covering(symbol, SYMBOL_SCOPES), f"'{symbol}' has no operator pattern"


def test_the_keyword_list_is_not_stale() -> None:
    """A word the TextMate grammar calls a keyword must still be one of the Lark grammar."""
    words = set(literals())
    for pattern in all_patterns():
        for alternatives in re.findall(r"\(\?:([a-z_|]+)\)", pattern.get("match", "")):
            assert set(alternatives.split("|")) <= words, pattern.get("name")


def test_a_limit_line_tokenizes_as_an_author_reads_it() -> None:
    assert tokenize("    retail        30 g per 30 days") == [
        ("retail", "variable.other.dqm"), ("30", "constant.numeric.dqm"),
        ("g", "variable.other.dqm"), ("per", "keyword.other.rule.dqm"),
        ("30", "constant.numeric.dqm"), ("days", "keyword.other.rule.dqm")]


def test_keywords_inside_hyphenated_ids_are_not_highlighted() -> None:
    assert tokenize("  limit per-day-limit {") == [
        ("limit", "keyword.control.dqm"), ("per-day-limit", "entity.name.function.dqm"),
        ("{", "punctuation.section.block.begin.dqm")]
    assert tokenize("when not-for-sale and x") == [
        ("when", "keyword.control.dqm"), ("not-for-sale", "variable.other.dqm"),
        ("and", "keyword.operator.logical.dqm"), ("x", "variable.other.dqm")]


def test_strings_comments_and_dates_hide_the_keywords_inside_them() -> None:
    assert tokenize('  revision 2025-11-12 "New policy per days" # per fill') == [
        ("revision", "keyword.declaration.dqm"), ("2025-11-12", "constant.numeric.date.dqm"),
        ('"New policy per days"', "string.quoted.double.dqm"),
        ("# per fill", "comment.line.number-sign.dqm")]
    assert tokenize("  review_date 2020-07") == [
        ("review_date", "keyword.other.setting.dqm"), ("2020-07", "constant.numeric.date.dqm")]
    assert tokenize("    for renewal requests") == [
        ("for", "keyword.control.dqm"), ("renewal", "constant.language.dqm"),
        ("requests", "keyword.control.dqm")]
    assert tokenize("  age 0..17") == [
        ("age", "keyword.control.dqm"), ("0", "constant.numeric.dqm"),
        ("..", "keyword.operator.range.dqm"), ("17", "constant.numeric.dqm")]


def test_the_anzupgo_spec_tokenizes_without_gaps() -> None:
    """Every non-blank character of a real spec's one-line statements gets a scope."""
    in_long_string = False
    for line in (REPO / "policy_specs" / "anzupgo.dqm").read_text(encoding="utf-8").splitlines():
        # A long string spans lines, which the one-line tokenizer here does not follow.
        if line.count('"""') % 2:
            in_long_string = not in_long_string
            continue
        if in_long_string or '"""' in line:
            continue
        covered = "".join(text for text, _ in tokenize(line))
        assert covered.replace(" ", "") == line.replace(" ", ""), line


# -- the VS Code extension ---------------------------------------------------------------------

VSCODE = REPO / "editors" / "vscode"


def test_the_vscode_extension_contributes_the_language_grammar_and_schema() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    contributes = manifest["contributes"]
    assert [lang["id"] for lang in contributes["languages"]] == ["dqm"]
    assert contributes["languages"][0]["extensions"] == [".dqm"]
    json.loads((VSCODE / contributes["languages"][0]["configuration"]).read_text(encoding="utf-8"))
    (wired,) = contributes["grammars"]
    assert wired["scopeName"] == grammar()["scopeName"] and wired["language"] == "dqm"
    (validation,) = contributes["yamlValidation"]
    assert (VSCODE / validation["url"]).is_file()
    assert (VSCODE / manifest["main"]).is_file()
    assert manifest["contributes"]["configuration"]["properties"]["dqm.server.command"][
        "default"] == ["dqmc", "lsp"]


@pytest.mark.parametrize("copy, source", [
    ("syntaxes/dqm.tmLanguage.json", "editors/dqm.tmLanguage.json"),
    ("schemas/policy.schema.json", "grammar/policy.schema.json"),
])
def test_the_extensions_copies_are_current(copy: str, source: str) -> None:
    # The extension is packaged on its own folder; refresh with `npm run sync-assets` there.
    assert (VSCODE / copy).read_bytes() == (REPO / source).read_bytes(), (
        f"editors/vscode/{copy} is stale: run `npm run sync-assets` in editors/vscode")


def test_the_word_pattern_takes_hyphenated_ids_whole() -> None:
    config = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    words = re.findall(config["wordPattern"], "limit anzupgo-2pct-cream { retail 30.5 g")
    assert words == ["limit", "anzupgo-2pct-cream", "retail", "30.5", "g"]
