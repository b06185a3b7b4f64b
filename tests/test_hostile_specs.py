"""Hostile specs (issue 7 §1-3): nothing from a spec runs, nothing from a spec becomes markup.

Every hostile spec is either refused by `dqmc check` with a named diagnostic code, or compiled.
For the compiled ones the proof is by comparison with a *benign twin*: the same spec with every
run of non-space characters in its text replaced by `w`, so both have the same ids, lines and
paragraphs. The generated Python of the two must have the same AST once string constants are
blanked, and the same comments; the HTML must have the same elements and attributes, and the
Markdown the same structure. Anything spec text could inject (a statement, a name, a comment, a
tag, a template expression) would make the twins differ. The hostile package is then imported
and run in a subprocess whose working folder is empty, and must create no `PWNED` file.

The front ends are fuzzed as well, beyond tests/test_fuzz_frontends.py: grammar-aware generation
from the Lark grammar's own rules (random derivations with the grammar's terminals, biased so
that many derivations are valid policies, which are then built and evaluated), Hypothesis'
`from_lark`, and the limits (deep conditions, long files, huge strings) in work linear in their
size.
"""

from __future__ import annotations

import ast
import cProfile
import functools
import html
import html.parser
import io
import itertools
import json
import pstats
import re
import subprocess
import sys
import tempfile
import tokenize
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqmc import interpreter
from dqmc.build.tree import artifacts, write_tree
from dqmc.codegen.docs_emit import drug_search_script
from dqmc.codegen.loader import import_package
from dqmc.lang.diagnostics import render
from dqmc.lang.frontend.dsl_lower import MAX_CONDITION_DEPTH
from dqmc.lang.frontend.dsl_parse import parser as dsl_parser
from dqmc.lang.pipeline import compile_paths, compile_text
from dqmc.lang.source import SourceFile

CORPUS = REPO / "tests/hostile"
DOCS_CONFIG = REPO / "docs.config.yaml"
INJECT = "__import__('os').system('touch PWNED')"

# ---------------------------------------------------------------------------------------------
# The payloads: each goes into every free-text field of a policy, in both spellings.

LONG = ("A" * 99 + " ") * 1000  # 100 KB
PAYLOADS: dict[str, str] = {
    "quotes": "it's \"quoted\" ''' \"\"\" ' \" '''x''' \"\"\"y\"\"\"",
    "backslashes": "C:\\new\\table \\\\ \\x41 \\N{BULLET} \\u0041 \\' \\\" trailing\\",
    "newlines": "one\ntwo\r\nthree\rfour\n\n# heading\n\n- item\n1. item\n   indented",
    "hash": "# not a comment ## #!/bin/sh",
    "jinja": ("{{ 7*7 }} {% if true %}IF{% endif %} {# c #} {{ ''.__class__ }} ${7*7} #{7*7}"
              " {%raw%}"),
    "python": (f"{INJECT} \"); {INJECT} # '); {INJECT} # \"\"\"; {INJECT}; \"\"\" '''; {INJECT}; "
               f"''' \n{INJECT}\n\\\n{INJECT} f\"{{{INJECT}}}\""),
    "html": ("<script>alert(1)</script><img src=x onerror=alert(1)>"
             "<a href=\"javascript:alert(1)\">x</a> <!-- --> ]]> <![CDATA[x]]> <style>*{}</style>"
             " <svg onload=alert(1)> &amp; &lt;p&gt;"),
    "markdown": ("[x](javascript:alert(1)) ![i](http://evil.example/x.png) *em* _u_ `code` | pipe |"
                 " ~~s~~ $x$ <https://evil.example> [ref]: http://evil.example \\*"),
    "separators": "a\u2028b\u2029c\u0085d\x1ce\x1df\x1eg\x1fh",
    "bidi": "abc\u202edcba\u202c \u2066x\u2069 \u2067y\u2068z\u2069 \u202a\u202b\u202d end",
    "controls": "nul\x00 bell\x07 esc\x1b[2J del\x7f c1\x9b tab\t ff\x0c vt\x0b bs\x08",
    "invisible": "zero\u200bwidth bom\ufeff soft\u00adhyphen nbsp\u00a0 lrm\u200e",
    "astral": "\U0001f600 \U0001d11e \U000e0001 \U0010fffd",
    "long": LONG,
}
PAYLOADS["mega"] = " ".join(text for key, text in PAYLOADS.items() if key != "long") + " " + LONG
LONG_SLOTS = ("title", "section_text", "question", "reference")  # 4 x 100 KB stays below 1 MiB
SLOTS = ("title", "channel", "brand", "generic", "strength", "form", "label", "gpi", "package",
         "group", "note", "question", "question2", "criterion", "section_title", "section_text",
         "reference", "revision_type", "revision_summary")


def slot_text(payload: str) -> Callable[[str], str]:
    short = payload.replace(LONG, "long")
    return lambda slot: payload if slot in LONG_SLOTS else short


def benign(text: str) -> str:
    """The twin of a text: every run of non-space characters becomes `w`; whitespace is kept."""
    return re.sub(r"\S+", "w", text)


# ---------------------------------------------------------------------------------------------
# Writing specs: strings as each front end spells them


def _needs_escape(char: str) -> bool:
    code = ord(char)
    return (code <= 0xFFFF and char != " "
            and (not char.isprintable() or char in "\u2028\u2029\ufeff"))


def dsl_str(text: str) -> str:
    """A DSL string literal for any text (raw astral characters: \\u spells only the BMP)."""
    simple = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
    return '"' + "".join(simple.get(c) or (f"\\u{ord(c):04x}" if _needs_escape(c) else c)
                         for c in text) + '"'


def yaml_str(text: str) -> str:
    """A YAML double-quoted scalar for any text."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif _needs_escape(char):
            out.append(f"\\u{ord(char):04x}")
        elif not char.isprintable() and char != " ":
            out.append(f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def dsl_policy(pid: str, text: Callable[[str], str]) -> str:
    s = lambda slot: dsl_str(text(slot))  # noqa: E731
    return f"""policy {pid} {s("title")} {{
  type per_days
  review_date 2025-06-01
  approvals last 1 year
  channel specialty {s("channel")}
  product {pid}-cream {{
    brand {s("brand")}
    generic {s("generic")}
    strength {s("strength")}
    form {s("form")}
    label {s("label")}
    gpi {s("gpi")}
    package tube-30g 30 g {s("package")} as tube
  }}
  group {pid}-group {s("group")}: {pid}-cream
  limit {pid}-group {{
    retail 30 g per 30 days note {s("note")}
    specialty 1 tube per fill
  }}
  fact needs_more: bool {s("question")}
  fact severity: enum {{mild, severe}} {s("question2")}
  criterion more {s("criterion")} {{
    when needs_more and severity == severe
    approve {pid}-group {{ retail 60 g per 30 days }}
  }}
  section overview {s("section_title")} {s("section_text")}
  reference {s("reference")}
  revision 2025-06-01 {s("revision_type")} {s("revision_summary")}
}}
"""


def yaml_policy(pid: str, text: Callable[[str], str]) -> str:
    s = lambda slot: yaml_str(text(slot))  # noqa: E731
    return f"""policy:
  id: {pid}
  title: {s("title")}
  type: per_days
  review_date: 2025-06-01
  approval_duration: 1 year
channels:
  specialty: {s("channel")}
products:
  {pid}-cream:
    brand: {s("brand")}
    generic: {s("generic")}
    strength: {s("strength")}
    form: {s("form")}
    label: {s("label")}
    gpi: {s("gpi")}
    packages:
      tube-30g: {{size: 30 g, description: {s("package")}, noun: tube}}
groups:
  {pid}-group: {{title: {s("group")}, products: [{pid}-cream]}}
limits:
  {pid}-group:
    retail: {yaml_str("30 g per 30 days note " + dsl_str(text("note")))}
    specialty: 1 tube per fill
facts:
  needs_more: {{type: bool, question: {s("question")}}}
  severity: {{type: enum, values: [mild, severe], question: {s("question2")}}}
criteria:
  more:
    title: {s("criterion")}
    when: needs_more and severity == severe
    approve:
      {pid}-group: {{retail: 60 g per 30 days}}
sections:
  - {{kind: overview, title: {s("section_title")}, text: {s("section_text")}}}
references:
  - {s("reference")}
history:
  - {{date: 2025-06-01, type: {s("revision_type")}, summary: {s("revision_summary")}}}
"""


def write_specs(folder: Path, twin: bool) -> dict[str, tuple[str, Callable[[str], str]]]:
    """Every payload in both spellings under folder; {policy id: (spec file, text by slot)}."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for key, payload in PAYLOADS.items():
        text = slot_text(payload)
        if twin:
            text = (lambda inner: lambda slot: benign(inner(slot)))(text)
        for prefix, build, suffix in (("hd", dsl_policy, ".dqm"), ("hy", yaml_policy, ".yaml")):
            pid = f"{prefix}-{key}"
            (folder / f"{pid}{suffix}").write_text(build(pid, text), encoding="utf-8")
            written[pid] = (f"{pid}{suffix}", text)
    return written


def build_in(folder: Path, monkeypatch: pytest.MonkeyPatch, paths: tuple[str, ...] = (".",),
             ) -> dict[str, bytes]:
    """All artifacts of the specs, compiled from inside folder (short, equal spec paths)."""
    monkeypatch.chdir(folder)
    result = compile_paths(list(paths))
    assert result.ok, [d.concise()[:300] for d in result.diagnostics if d.is_error]
    try:
        return artifacts(result.compiled, docs_config=DOCS_CONFIG)
    finally:
        monkeypatch.chdir(REPO)


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as monkeypatch:
        specs = write_specs(root / "specs", twin=False)
        write_specs(root / "twins", twin=True)
        hostile = build_in(root / "specs", monkeypatch)
        twins = build_in(root / "twins", monkeypatch)
    return root, specs, hostile, twins


# ---------------------------------------------------------------------------------------------
# What generated files look like, with spec text blanked out


class _BlankStrings(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):
            return ast.copy_location(ast.Constant("S"), node)
        return node


def python_shape(source: str) -> str:
    """The module's AST with every string constant blanked: what spec text cannot change."""
    return ast.dump(_BlankStrings().visit(ast.parse(source)))


def python_comments(source: str) -> list[str]:
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT]
    return [re.sub(r"sha256:[0-9a-f]{64}", "sha256:H", c) for c in comments]


def module_constant(source: str, name: str) -> object:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


class _Markup(html.parser.HTMLParser):
    """Every element, attribute and comment of a page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.events.append(("start", tag, tuple(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.events.append(("empty", tag, tuple(attrs)))

    def handle_endtag(self, tag):
        self.events.append(("end", tag))

    def handle_comment(self, data):
        self.events.append(("comment",))

    def handle_decl(self, decl):
        self.events.append(("decl", decl))

    def handle_pi(self, data):
        self.events.append(("pi", data))

    def unknown_decl(self, data):
        self.events.append(("unknown", data))

    def handle_data(self, data):
        self.text.append(data)


def markup(page: str) -> _Markup:
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser


_MD_ESCAPED = re.compile(r"\\[!-/:-@\[-`{-~]|&(?:[A-Za-z]+|#[0-9]+);")
_MD_BLOCK = re.compile(r" *(?:#{1,6}(?= |$)|[-+*](?= )|\d{1,9}[.)](?= )|>|\||={3,}$|-{3,}$)")


def markdown_shape(page: str) -> list[tuple[str, str]]:
    """Per line: the block marker it starts with, and the Markdown syntax characters left once
    escapes and entities are removed. Text made inert by md_escape leaves nothing here. (`#` and
    `!` only mean something at the start of a line and before `[`, both covered.)"""
    shape = []
    for line in page.splitlines()[1:]:  # below the generated header
        marker = _MD_BLOCK.match(line)
        rest = _MD_ESCAPED.sub("", line)
        shape.append((marker.group() if marker else "",
                      "".join(c for c in rest if c in "*_[]`|<>~$")))
    return shape


RAW_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


# ---------------------------------------------------------------------------------------------
# Running generated code in a subprocess, in an empty working folder

RUNNER = r"""
import json, sys
job = json.load(sys.stdin)
sys.path.insert(0, job["python"])
import dqm_policies as registry
out = {"policies": [row["id"] for row in registry.policies()], "results": {}}
for pid, product in job["products"].items():
    claim = {"claim_id": "c-1", "date_of_service": "2026-03-01", "product": product,
             "quantity": "30", "unit": "g", "days_supply": 30, "channel": "retail"}
    over = dict(claim, quantity="60")
    special = dict(claim, channel="specialty")
    answers = {"needs_more": True, "severity": "severe"}
    requests = [dict(policy=pid, product=product, request_date="2026-01-15", facts=facts)
                for facts in (answers, {"severity": "severe"}, dict(answers, needs_more=False))]
    out["results"][pid] = {
        "claims": [registry.evaluate(c) for c in (claim, over, special)],
        "reviews": [registry.review(r) for r in requests],
    }
print(json.dumps(out, ensure_ascii=True))
"""


def run_generated(python_dir: Path, products: dict[str, str], cwd: Path) -> dict:
    cwd.mkdir(parents=True, exist_ok=True)
    job = json.dumps({"python": str(python_dir), "products": products})
    # -I -S: no site-packages and no PYTHON* variables: the generated package stands alone.
    run = subprocess.run([sys.executable, "-I", "-S", "-c", RUNNER], input=job, cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def assert_no_pwned(*roots: Path) -> None:
    for root in roots:
        assert not list(root.rglob("PWNED")), f"a spec ran code under {root}"
    assert not (REPO / "PWNED").exists()


# ---------------------------------------------------------------------------------------------
# 1. The committed corpus: refused with the expected codes, or compiled and inert


def corpus_expectations() -> dict[str, list[str]]:
    return json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_the_corpus_lists_every_file_and_each_refusal_names_its_codes(tmp_path: Path) -> None:
    expected = corpus_expectations()
    on_disk = sorted(p.relative_to(CORPUS).as_posix()
                     for p in CORPUS.rglob("*") if p.suffix in (".dqm", ".yaml"))
    assert sorted(expected) == on_disk
    run = subprocess.run(
        [sys.executable, "-m", "dqmc", "check", "--format", "json", "tests/hostile/refused",
         "tests/hostile/accepted"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr + run.stdout
    found: dict[str, list[str]] = defaultdict(list)
    for diagnostic in json.loads(run.stdout):
        assert diagnostic["line"] >= 1 and diagnostic["column"] >= 1
        if diagnostic["severity"] == "error":
            found[Path(diagnostic["file"]).relative_to("tests/hostile").as_posix()].append(
                diagnostic["code"])
    for name, codes in expected.items():
        assert sorted(found.get(name, [])) == sorted(codes), name
    assert_no_pwned(REPO / "tests", tmp_path)


def test_the_text_rendering_of_refusals_quotes_no_raw_control(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "dqmc", "check", "tests/hostile/refused"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    # The Trojan Source line is quoted with its bidi controls replaced: a terminal shows the
    # caret under what the parser read.
    assert not RAW_INVISIBLE.search(run.stdout), "a raw control reached the terminal"
    assert "trojan-source.dqm:5:34: error[syntax.unexpected-char]: unexpected character U+202E" \
        in run.stdout


def test_accepted_corpus_builds_runs_nothing_and_decides(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    run = subprocess.run([sys.executable, "-m", "dqmc", "build", "tests/hostile/accepted",
                          "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    results = run_generated(out / "python", {"injection-dsl": "inj-dsl-cream",
                                             "injection-yaml": "inj-yaml-cream"},
                            tmp_path / "cwd")
    for pid in ("injection-dsl", "injection-yaml"):
        paid, over, special = results["results"][pid]["claims"]
        assert (paid["outcome"], over["outcome"], over["reject_code"]) == ("paid", "rejected", "76")
        assert special["outcome"] == "paid"
        approved, missing, denied = results["results"][pid]["reviews"]
        assert (approved["outcome"], denied["outcome"]) == ("approved", "denied")
        assert missing["missing"][0]["question"].startswith("Does the patient need more? '''")
    script = f"<script>{drug_search_script()[0]}</script>"  # the index's own, verbatim
    for page in (out / "docs").glob("*.html"):
        events = markup(page.read_text(encoding="utf-8").replace(script, "")).events
        assert not [e for e in events if e[0] in ("start", "empty") and e[1] in ("script", "img",
                                                                                  "a", "svg", "b")
                    and not (e[1] == "a" and dict(e[2]).get("href", "").partition("#")[0]
                             .endswith((".html", ".md")))]
    assert_no_pwned(tmp_path, REPO / "tests")


# ---------------------------------------------------------------------------------------------
# 2. Hostile text in every field, both spellings: compiled, kept exactly, never code or markup


def test_hostile_text_compiles_and_is_kept_exactly(hostile_build) -> None:
    _, specs, hostile, _ = hostile_build
    assert len(specs) == 2 * len(PAYLOADS)
    for pid, (_, text) in specs.items():
        ir = json.loads(hostile[f"ir/{pid}.json"])["policy"]
        assert ir["title"] == text("title")
        assert ir["sections"][0]["text"] == text("section_text")
        assert ir["products"][0]["brand"] == text("brand")
        assert ir["limits"][0]["note"] == text("note")
        assert ir["facts"][0]["question"] == text("question")


def test_generated_python_holds_spec_text_only_in_string_literals(hostile_build) -> None:
    _, specs, hostile, twins = hostile_build
    modules = [p for p in hostile if p.startswith("python/") and p.endswith(".py")
               and "/_runtime/" not in p]  # the runtime holds no spec text: copied verbatim
    assert len(modules) == len(specs) + 1  # one per policy, and the registry
    for path in modules:
        source, twin = hostile[path].decode("utf-8"), twins[path].decode("utf-8")
        assert python_shape(source) == python_shape(twin), f"spec text changed the code of {path}"
        assert python_comments(source) == python_comments(twin), path
        assert "\x00" not in source and not RAW_INVISIBLE.search(source), path
    for pid, (_, text) in specs.items():
        module = hostile[f"python/dqm_policies/{pid.replace('-', '_')}.py"].decode("utf-8")
        assert module_constant(module, "TITLE") == text("title")
        facts = module_constant(module, "_FACTS")
        assert facts["needs_more"][2] == text("question")  # type: ignore[index]
        assert facts["severity"][2] == text("question2")  # type: ignore[index]


def test_generated_python_runs_nothing_from_the_spec(hostile_build, tmp_path: Path) -> None:
    root, specs, hostile, _ = hostile_build
    out = tmp_path / "generated"
    write_tree(hostile, out)
    results = run_generated(out / "python", {pid: f"{pid}-cream" for pid in specs},
                            tmp_path / "cwd")
    assert sorted(results["policies"]) == sorted(specs)
    for pid, (_, text) in specs.items():
        paid, over, special = results["results"][pid]["claims"]
        assert paid["outcome"] == "paid" and paid["max_allowed_quantity"] == "30"
        assert (over["outcome"], over["reject_code"]) == ("rejected", "76")
        assert special["outcome"] == "paid"  # 1 tube per fill: the noun resolved to 30 g
        approved, missing, denied = results["results"][pid]["reviews"]
        assert approved["outcome"] == "approved" and approved["criterion"] == "more"
        assert missing["outcome"] == "needs_information"
        assert [m["question"] for m in missing["missing"]] == [text("question")]
        assert denied["outcome"] == "denied"
        assert denied["unmet"][0]["questions"] == [text("question")]
    assert_no_pwned(tmp_path, root)


def test_the_ir_json_shows_invisible_characters_as_escapes(hostile_build) -> None:
    _, specs, hostile, _ = hostile_build
    for pid in specs:
        text = hostile[f"ir/{pid}.json"].decode("utf-8")
        assert all(char == "\n" or char.isprintable() for char in text), pid


def test_documents_hold_no_markup_and_no_template_evaluation_from_the_spec(hostile_build) -> None:
    _, specs, hostile, twins = hostile_build
    pages = [p for p in hostile if p.startswith("docs/")]
    assert len(pages) == 2 * len(specs) + 2  # and the index and drugs.json
    script = f"<script>{drug_search_script()[0]}</script>"
    for path in pages:
        page, twin = hostile[path].decode("utf-8"), twins[path].decode("utf-8")
        assert not RAW_INVISIBLE.search(page), f"a raw control or bidi character in {path}"
        if path == "docs/drugs.json":  # data, not markup: ASCII JSON whose values are spec text
            data, twin_data = json.loads(page), json.loads(twin)
            del data["@generated"], twin_data["@generated"]  # names the content hashes
            assert page.isascii()
            assert json.dumps(data).count("49") == json.dumps(twin_data).count("49"), path
            continue
        if path == "docs/index.html":  # its one script is the drug lookup's own, verbatim
            assert page.count("<script") == twin.count("<script") == 1
            page, twin = page.replace(script, ""), twin.replace(script, "")
        body, twin_body = page.split("\n", 1)[1], twin.split("\n", 1)[1]  # below the header
        assert body.count("49") == twin_body.count("49"), f"a template ran in {path}"
        if path.endswith(".html"):
            parsed, twin_parsed = markup(page), markup(twin)
            if path == "docs/index.html":  # listed by title: the twins' titles sort otherwise
                # A lookup row carries its brand and generic name as an attribute value.
                def shape(events: list[tuple]) -> list[str]:
                    return sorted(repr(tuple((n, "" if n == "data-search" else v) for n, v in e[2])
                                       if len(e) > 2 else ()) + repr(e[:2]) for e in events)
                assert shape(parsed.events) == shape(twin_parsed.events)
            else:
                assert parsed.events == twin_parsed.events, f"spec text added markup to {path}"
            for event in parsed.events:
                if event[0] in ("start", "empty"):
                    assert event[1] not in ("script", "iframe", "object", "embed", "svg", "img")
                    for name, value in event[2]:
                        assert not name.startswith("on")
                        assert not (value or "").strip().lower().startswith("javascript:")
        else:
            assert markdown_shape(page) == markdown_shape(twin), f"spec text is Markdown: {path}"
            assert all("<" not in line for line in body.replace("<br>", "").splitlines()), path
    jinja_page = hostile["docs/hd-jinja.html"].decode("utf-8")
    assert "{{ 7*7 }}" in "".join(markup(jinja_page).text)
    assert "{{ 7\\*7 }}" in hostile["docs/hy-jinja.md"].decode("utf-8")
    shown = "".join(markup(hostile["docs/hd-html.html"].decode("utf-8")).text)
    assert "<script>alert(1)</script>" in shown  # shown as text, verbatim


def test_cli_build_of_the_hostile_corpus_writes_the_same_bytes(hostile_build,
                                                                tmp_path: Path) -> None:
    root, _, _, _ = hostile_build
    # The CLI reads docs.config.yaml from its working folder, and would take it for a spec
    # inside the spec folder: run it from the folder above, naming the spec folder.
    (root / "docs.config.yaml").write_bytes(DOCS_CONFIG.read_bytes())
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "dqmc", "check", "specs"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "0 errors" in run.stdout, run.stdout[-3000:]
    run = subprocess.run([sys.executable, "-m", "dqmc", "build", "specs", "--out", str(out)],
                         cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert written == build_in(root, monkeypatch, ("specs",))


# ---------------------------------------------------------------------------------------------
# 3. Hostile ids, hostile file names, Python names as ids


HOSTILE_IDS = ["x'); " + INJECT + " #", "a b", "a\nb", "{{ 7*7 }}", "<b>", "é", "a--b", "-a",
               "1abc", "a\u202eb", "a\x00b", "a.b", "a/b", "a\\b", ""]
ID_SLOTS = ["policy", "product", "channel", "fact", "value", "criterion", "package", "group"]


def _dsl_with_id(slot: str, bad: str) -> str:
    ids = {s: s + "-ok" for s in ID_SLOTS}
    ids[slot] = bad
    return (f'policy {ids["policy"]} "T" {{\n type per_days\n channel {ids["channel"]} "C"\n'
            f' product {ids["product"]} {{ brand "B" generic "g" form "cream"'
            f' package {ids["package"]} 30 g "tube" }}\n'
            f' group {ids["group"]} "G": {ids["product"]}\n'
            f' limit {ids["group"]} {{ retail 30 g per 30 days }}\n'
            f' fact {ids["fact"]}: enum {{{ids["value"]}, other}} "Q"\n'
            f' criterion {ids["criterion"]} {{ when {ids["fact"]} == {ids["value"]}'
            f' approve {ids["group"]} {{ retail 60 g per 30 days }} }}\n}}\n')


def _yaml_with_id(slot: str, bad: str) -> str:
    ids = {s: yaml_str(s + "-ok") for s in ID_SLOTS}
    ids[slot] = yaml_str(bad)
    return (f"policy: {{id: {ids['policy']}, title: T, type: per_days}}\n"
            f"channels: {{{ids['channel']}: C}}\n"
            f"products:\n  {ids['product']}:\n    {{brand: B, generic: g, form: cream,"
            f" packages: {{{ids['package']}: {{size: 30 g, description: tube}}}}}}\n"
            f"groups: {{{ids['group']}: {{title: G, products: [{ids['product']}]}}}}\n"
            f"limits: {{{ids['group']}: {{retail: 30 g per 30 days}}}}\n"
            f"facts: {{{ids['fact']}: {{type: enum, values: [{ids['value']}, other],"
            f" question: Q}}}}\n"
            f"criteria: {{{ids['criterion']}: {{when: fact-ok == value-ok,"
            f" approve: {{group-ok: {{retail: 60 g per 30 days}}}}}}}}\n")


def test_the_id_fixtures_compile_when_no_id_is_hostile() -> None:
    for spelled, path in ((_dsl_with_id, "ids.dqm"), (_yaml_with_id, "ids.yaml")):
        result = compile_text(path, spelled("policy", "policy-ok"))
        assert not [d.concise() for d in result.diagnostics if d.is_error]


@pytest.mark.parametrize("slot", ID_SLOTS)
def test_a_hostile_id_is_refused_in_either_spelling(slot: str) -> None:
    for bad in HOSTILE_IDS:
        dsl = compile_text("ids.dqm", _dsl_with_id(slot, bad))
        codes = {d.code for d in dsl.diagnostics if d.is_error}
        assert codes and codes <= {"syntax.unexpected-char", "syntax.unexpected-token",
                                   "syntax.unexpected-eof", "name.invalid"}, (bad, codes)
        yml = compile_text("ids.yaml", _yaml_with_id(slot, bad))
        codes = {d.code for d in yml.diagnostics if d.is_error}
        assert codes and codes <= {"schema.pattern", "schema.unknown-key", "yaml.syntax"}, (
            bad, codes)


FILE_NAMES = ["new\nline", "quote'\"#{{ 7*7 }}", "bidi\u202e-rev", "back\\slash", "tab\there",
              "esc\x1b[2J", "ls\u2028x", "a-->b <!--", "space ", f"{INJECT}"]


def test_a_hostile_file_name_reaches_generated_code_only_as_a_literal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = slot_text("plain text")
    specs, twins = tmp_path / "specs", tmp_path / "twins"
    specs.mkdir()
    twins.mkdir()
    products = {}
    for index, name in enumerate(FILE_NAMES):
        pid = f"fn-{index}"
        (specs / f"{name}.dqm").write_text(dsl_policy(pid, text), encoding="utf-8")
        (twins / f"plain-{index}.dqm").write_text(dsl_policy(pid, text), encoding="utf-8")
        products[pid] = f"{pid}-cream"
    hostile, twin = build_in(specs, monkeypatch), build_in(twins, monkeypatch)
    for index, name in enumerate(FILE_NAMES):
        path = f"python/dqm_policies/fn_{index}.py"
        source, plain = hostile[path].decode("utf-8"), twin[path].decode("utf-8")
        assert python_shape(source) == python_shape(plain), repr(name)
        comments, plain_comments = python_comments(source), python_comments(plain)
        assert len(comments) == len(plain_comments), repr(name)
        assert not RAW_INVISIBLE.search(source) and "\u2028" not in source
        assert module_constant(source, "SOURCE") == f"{name}.dqm"
        header = hostile[f"docs/fn-{index}.html"].decode("utf-8").split("\n", 1)[0]
        assert header.startswith("<!-- ") and header.endswith(" -->") and header.count("-->") == 1
        assert not RAW_INVISIBLE.search(header)
        assert json.loads(hostile[f"ir/fn-{index}.json"])["source"] == f"{name}.dqm"
    out = tmp_path / "generated"
    write_tree(hostile, out)
    results = run_generated(out / "python", products, tmp_path / "cwd")
    for index, name in enumerate(FILE_NAMES):
        paid = results["results"][f"fn-{index}"]["claims"][0]
        assert paid["outcome"] == "paid"
        assert {step["source"] for step in paid["trace"]} <= {f"{name}.dqm:{line}"
                                                             for line in range(1, 40)}
    assert_no_pwned(tmp_path)


def test_ids_that_are_python_names_are_mangled_and_decide_like_the_interpreter() -> None:
    result = compile_paths([CORPUS / "accepted/python-names.dqm"])
    assert result.ok
    from dqmc.codegen.loader import load_generated

    package = load_generated(result.compiled)
    compiled = result.compiled[0]
    claims = []
    for product in ("__import__", "class", "evaluate", "rt", "_PRODUCT_1", "POLICY_ID"):
        for channel in ("retail", "home_delivery", "lambda", "None", "nope"):
            for quantity in ("10", "30", "60", "300"):
                claims.append({"claim_id": "c", "date_of_service": "2026-03-01",
                               "product": product, "quantity": quantity, "unit": "g",
                               "days_supply": 30, "channel": channel, "package": None,
                               "history": [{"date_of_service": "2026-02-20", "product": "rt",
                                            "quantity": "5", "status": "paid"}]})
    claims += [dict(c, package="__init__") for c in claims if c["product"] == "class"]
    for claim in claims:
        claim = {k: v for k, v in claim.items() if v is not None}
        assert package.evaluate(claim) == interpreter.evaluate_many([compiled], claim), claim
    facts = [{"answers": True, "rt": "None", "Decimal": 3, "date": "2029-01-01",
              "__builtins__": ["exec"], "True": False},
             {"rt": "os"}, {"True": True, "answers": False}, {"rt": "__import__"}, {}]
    for answers in facts:
        for product in ("__import__", "evaluate", "rt", "__builtins__", None):
            request = {"policy": "import", "request_date": "2026-01-15", "facts": answers}
            if product:
                request["product"] = product
            assert package.review(request) == interpreter.review_many([compiled], request)


# ---------------------------------------------------------------------------------------------
# 4. Limits: deep conditions, long files, huge strings — refused or compiled, in bounded time

# The reference policy, in both spellings, as of this test (the library's copy may change).
ANZUPGO_DSL = """\
policy anzupgo-dqm "Dermatology – Anzupgo Drug Quantity Management Policy – Per Days" {
  type per_days
  review_date 2025-11-12
  approvals last 1 year
  product anzupgo-2pct-cream {
    brand "Anzupgo"
    generic "delgocitinib"
    strength "2%"
    form "cream"
    package tube-30g 30 g "30 gram tube" as tube
  }
  limit anzupgo-2pct-cream {
    retail        30 g per 30 days
    home_delivery 90 g per 90 days
  }
  fact needs_more: bool "Does the patient require an additional quantity?"
  fact diagnosis: enum {chronic_hand_eczema, other} "What condition is being treated?"
  fact severity: enum {mild, moderate, severe} "How severe is the chronic hand eczema?"
  fact sites: set {hands, wrists, other} "Which body sites are treated?"
  criterion additional-quantity "Additional quantity" {
    when needs_more and diagnosis == chronic_hand_eczema
     and severity in {moderate, severe} and sites <= {hands, wrists}
    approve anzupgo-2pct-cream {
      retail        60 g per 30 days
      home_delivery 180 g per 90 days
    }
  }
  section availability "Availability" "Anzupgo is supplied as a 2% cream in 30 gram tubes."
  reference "Anzupgo® cream [prescribing information]. Madison, NJ; LEO: July 2025."
  revision 2025-11-12 "New Policy" \"\"\"
    New policy created to provide overrides to the existing quantity limits.
    \"\"\"
}
"""
ANZUPGO_YAML = """\
policy:
  id: anzupgo-dqm
  title: "Dermatology – Anzupgo Drug Quantity Management Policy – Per Days"
  type: per_days
  review_date: 2025-11-12
  approval_duration: 1 year
products:
  anzupgo-2pct-cream:
    brand: Anzupgo
    generic: delgocitinib
    strength: 2%
    form: cream
    packages:
      tube-30g: {size: 30 g, description: 30 gram tube, noun: tube}
limits:
  anzupgo-2pct-cream:
    retail: 30 g per 30 days
    home_delivery: 90 g per 90 days
facts:
  needs_more: {type: bool, question: "Does the patient require an additional quantity?"}
  diagnosis: {type: enum, values: [chronic_hand_eczema, other], question: "What condition?"}
  severity: {type: enum, values: [mild, moderate, severe], question: "How severe?"}
  sites: {type: set, values: [hands, wrists, other], question: "Which body sites?"}
criteria:
  additional-quantity:
    title: Additional quantity
    when: >
      needs_more and diagnosis == chronic_hand_eczema
      and severity in {moderate, severe} and sites <= {hands, wrists}
    approve:
      anzupgo-2pct-cream: {retail: 60 g per 30 days, home_delivery: 180 g per 90 days}
sections:
  - {kind: availability, title: Availability, text: Anzupgo is supplied as a 2% cream.}
references:
  - "Anzupgo® cream [prescribing information]. Madison, NJ; LEO: July 2025."
"""
WHEN_LINE = {False: 21, True: 28}  # the line of the condition in each spelling


def _with_condition(condition: str, yaml: bool = False) -> tuple[str, str]:
    if yaml:
        text = ANZUPGO_YAML.replace("needs_more and diagnosis == chronic_hand_eczema",
                                    condition + " and diagnosis == chronic_hand_eczema", 1)
        return "deep.yaml", text
    return "deep.dqm", ANZUPGO_DSL.replace("when needs_more and", f"when {condition} and", 1)


@functools.cache
def _warm() -> None:
    """Build the parsers once, so that no measurement below counts their construction."""
    compile_text("warm.dqm", ANZUPGO_DSL)
    compile_text("warm.yaml", ANZUPGO_YAML)


def _work(path: str, text: str):
    """Compile from memory; the result and the number of function calls it took.

    A count of calls (cProfile's, Python and built-in functions alike) measures the work done
    as a clock cannot on a shared machine: the same input always takes the same count.
    """
    _warm()
    profile = cProfile.Profile()
    result = profile.runcall(compile_text, path, text)
    return result, pstats.Stats(profile).total_calls


def assert_linear(work: dict[int, int]) -> None:
    """Work at most proportional to the input's size, between its smallest and largest size.

    Work is a fixed cost plus a cost per unit, so linear work stays under the ratio of sizes;
    the slack admits a logarithmic factor, while quadratic work (ratio squared) overshoots it.
    """
    (small, at_small), *_, (large, at_large) = sorted(work.items())
    assert large >= 4 * small, "too close in size to tell linear from quadratic"
    assert at_large <= 1.5 * (large / small) * at_small, work


@pytest.mark.parametrize("yaml", [False, True], ids=["dsl", "yaml"])
@pytest.mark.parametrize("shape", ["not", "and", "or", "not-paren"])
def test_conditions_nested_too_deep_are_refused_with_a_diagnostic(shape: str, yaml: bool) -> None:
    make = {"not": lambda n: "not " * n + "needs_more",
            "and": lambda n: "(needs_more and " * n + "needs_more" + ")" * n,
            "or": lambda n: "(needs_more or " * n + "needs_more" + ")" * n,
            "not-paren": lambda n: "not (" * n + "needs_more" + ")" * n}[shape]
    work = {}
    for depth in (MAX_CONDITION_DEPTH + 1, 1000, 10_000):
        path, text = _with_condition(make(depth), yaml)
        result, work[depth] = _work(path, text)
        assert [d.code for d in result.diagnostics] == ["syntax.invalid-value"], depth
        assert f"more than {MAX_CONDITION_DEPTH} levels" in result.diagnostics[0].message
        assert result.diagnostics[0].span.line == WHEN_LINE[yaml]
    del work[MAX_CONDITION_DEPTH + 1]  # all fixed cost: 1000 to 10,000 shows the growth
    assert_linear(work)


def test_the_deepest_condition_allowed_builds_and_evaluates() -> None:
    depth = MAX_CONDITION_DEPTH - 1  # the outer `and` of the criterion is one more level
    path, text = _with_condition("(needs_more and " * depth + "needs_more" + ")" * depth)
    result = compile_text(path, text)
    assert result.policy is not None and not [d for d in result.diagnostics if d.is_error]
    from dqmc.codegen.loader import load_generated
    from dqmc.lang.compiled import CompiledPolicy
    from dqmc.lang.ir.canonical import content_hash

    compiled = CompiledPolicy(result.policy, path, content_hash(result.policy))
    artifacts([compiled], docs_config=DOCS_CONFIG)
    request = {"policy": "anzupgo-dqm", "request_date": "2026-01-15",
               "facts": {"needs_more": True, "diagnosis": "chronic_hand_eczema",
                         "severity": "severe", "sites": ["hands"]}}
    assert load_generated([compiled]).review(request)["outcome"] == "approved"
    assert interpreter.review(compiled, request)["outcome"] == "approved"


def test_ten_thousand_redundant_parentheses_add_no_depth_and_parse_in_linear_work() -> None:
    work = {}
    for count in (1000, 10_000):
        result, work[count] = _work(*_with_condition("(" * count + "needs_more" + ")" * count))
        assert result.policy is not None and not result.diagnostics
    assert_linear(work)


@pytest.mark.parametrize("suffix", [".dqm", ".yaml"])
def test_a_file_over_one_mebibyte_is_refused_even_from_memory(suffix: str) -> None:
    big = "A" * (1 << 20)
    text = (f'policy p "{big}" {{ type per_days }}' if suffix == ".dqm"
            else f"policy: {{id: p, title: {big}, type: per_days}}\n")
    result, work = _work(f"big{suffix}", text)
    assert [d.code for d in result.diagnostics] == ["io.too-large"]
    assert work < 100  # refused by its size alone: not read, scanned or parsed (thousands)


def test_a_one_megabyte_string_just_under_the_limit_compiles_in_linear_work() -> None:
    work = {}
    for size in (100_000, 1_000_000):
        big = "B" * size
        text = ANZUPGO_DSL.replace('"Anzupgo is supplied', f'"{big} Anzupgo is supplied', 1)
        result, work[size] = _work("huge.dqm", text)
        assert result.policy is not None and not [d for d in result.diagnostics if d.is_error]
        assert big in result.policy.sections[0].text
    assert_linear(work)


def test_a_long_file_of_many_products_is_checked_in_linear_work() -> None:
    work = {}
    for count in (250, 1000):
        lines = ['policy many "Many" {', "  type per_days"]
        for i in range(count):
            lines.append(f'  product p{i} {{ brand "B" generic "g" form "cream" unit g }}')
            lines.append(f"  limit p{i} {{ retail 30 g per 30 days }}")
        lines.append("}")
        result, work[count] = _work("many.dqm", "\n".join(lines))
        assert result.policy is not None and len(result.policy.products) == count
    assert_linear(work)


def test_a_file_of_100_000_comment_lines_takes_linear_work_and_reports_the_missing_policy(
        ) -> None:
    work = {}
    for count in (10_000, 100_000):
        result, work[count] = _work("comments.dqm", "# comment\n" * count)
        assert [d.code for d in result.diagnostics] == ["syntax.unexpected-eof"]
    assert_linear(work)
    assert result.diagnostics[0].span.line == 100_001


# ---------------------------------------------------------------------------------------------
# 5. Fuzzing: grammar-aware derivations, from_lark, and the hostile payloads in random places


def assert_well_formed(path: str, text: str):
    result = compile_text(path, text)
    # A shared factor file the spec uses reports its own findings, at its own positions.
    sources = {s.path: s for s in result.shared} | {path: SourceFile(path, text)}
    for diagnostic in result.diagnostics:
        span = diagnostic.span
        assert span.file in sources, diagnostic
        source = sources[span.file]
        assert 1 <= span.line <= source.line_count + 1, diagnostic
        assert span.col >= 1 and (span.end_line, span.end_col) >= (span.line, span.col), diagnostic
        assert diagnostic.message
        render(diagnostic, sources)
    return result


@functools.cache
def grammar_tables() -> tuple[dict[str, list[list[str]]], dict[str, tuple[str, str]],
                              dict[str, int]]:
    """The grammar as Lark compiled it: expansions per rule, terminals, and each symbol's
    shortest derivation (so a random derivation can always be brought to an end)."""
    lark = dsl_parser()
    rules: dict[str, list[list[str]]] = defaultdict(list)
    for rule in lark.rules:
        rules[rule.origin.name].append([symbol.name for symbol in rule.expansion])
    terminals = {t.name: (t.pattern.type, t.pattern.value) for t in lark.terminals}
    cost = dict.fromkeys(terminals, 1)
    changed = True
    while changed:
        changed = False
        for name, expansions in rules.items():
            best = min((sum(cost.get(s, 10**6) for s in e) for e in expansions), default=10**6)
            if best < cost.get(name, 10**6):
                cost[name], changed = best, True
    return dict(rules), terminals, cost


# Names by the rule an ID stands in, and the keyword before it where one rule has several, so
# that derivations refer to things that exist and reach the checks and the generators.
_POOLS = {
    ("setting", "TYPE"): ["per_days", "per_rx", "per_day", "mixed", "prior_authorization", "bogus"],
    ("product_item", "UNIT"): ["g", "mL", "each", "tube"],
    ("product_item", "PACKAGE"): ["pk1", "pk2"], ("product_item", "NUMBER"): ["g", "each", "mL"],
    ("product", "PRODUCT"): ["p", "q"], ("limit_block", "LIMIT"): ["p", "q", "grp"],
    ("criterion_item", "APPROVE"): ["p", "q", "grp"], ("criterion_item", "RENEWS"): ["c1", "c2"],
    ("group", "GROUP"): ["grp"], ("id_list", None): ["p", "q"],
    ("channel_decl", "CHANNEL"): ["specialty", "retail"], ("fact", "FACT"): ["a", "b", "n", "d"],
    ("criterion", "CRITERION"): ["c1", "c2"], ("package_opts", "AS"): ["tube", "box"],
    ("section", "SECTION"): ["overview", "dosing", "availability", "other", "bogus"],
    ("policy", "POLICY"): ["fuzz-policy"], ("channel_spec", None): ["retail", "home_delivery",
                                                                    "specialty", "mail"],
    ("quantity", None): ["g", "g", "each", "mL", "tube", "tubes", "box"],
    ("selector", "PACKAGE"): ["pk1", "pk2"], ("atom", None): ["a", "b", "n", "d"],
    ("value", None): ["x", "y", "z"], ("symbol_set", None): ["x", "y", "z"],
    ("__id_list_star", None): ["x", "y", "p", "q"],
    # daily-dose edits: one ingredient the products contain, one factor table that lists it
    ("product_item", "UNIT_OF_STRENGTH"): ["x"], ("rule", "DOSE"): ["x", "mme"],
    ("factor_table", "FACTORS"): ["mme"], ("factor", None): ["x"],
    ("factor_use", "FACTORS"): ["mme", "mme", "spare"],
}
# `use factors mme from "..."`: the library's shared file (fuzz.dqm compiles from the repository
# root), and a path that is no file, one that escapes and one that is not a factor file.
_SHARED_FILES = ['"policy_specs/shared/cdc-2022-mme.dqm"', '"policy_specs/shared/cdc-2022-mme.dqm"',
                 '"shared/nowhere.dqm"', '"/etc/passwd"', '"policy_specs/anzupgo.dqm"']
_IDS = ["p", "q", "grp", "a", "b", "n", "d", "x", "y", "g", "mL", "each", "tube", "tubes", "retail",
        "home_delivery", "specialty", "class", "__import__", "None", "True", "c1", "pk1"]
_STRINGS = ['"x"', '"76"', '"E7"', '"7 6"', '"00574407205"', '"0057440720"', '"2%"',
            '"{{ 7*7 }}"', '"<script>alert(1)</script>"', '"\\u202e\\u0000"', '"\\uD800"',
            '"\\q"', '"' + INJECT.replace("'", "\\u0027") + '"', '"a\\"b"']
_TERMINAL_VALUES = {
    "NUMBER": ["0", "1", "2", "5", "30", "60", "90", "2.5", "17", "999", "1000", "3661",
               "123456789012345678901"],
    "DATE": ["2025-01-01", "2025-11-12", "2026-02-30", "0000-00-00", "9999-12-31"],
    "STRING": _STRINGS,
    "LONG_STRING": ['"""\n  text\n  """', '"""x"""', '"""\n  # not a comment\n"""'],
    "UNIT_OF_STRENGTH": ["mg", "mcg", "g", "mcg/h"],
}


# Values that pass the checks, for policies meant to be valid (the bad ones stay in the pools
# above, for the error paths).
_VALID_VALUES = {
    "NUMBER": ["1", "2", "5", "17", "30", "60", "90"], "DATE": ["2025-01-01", "2025-11-12"],
    "UNIT_OF_STRENGTH": ["mg"],
    # (a NUL or a bidi control is refused wherever it is written: not a value that passes)
    "STRING": [s for s in _STRINGS if "\\uD800" not in s and "\\q" not in s
               and "\\u0000" not in s],
}


# Strings that are codes where a policy meant to be valid writes them: a line's reject code
# (NCPDP 511-FB) and DUR/PPS codes; a flag's string may also be a note, hostile text included.
_VALID_CODES = {"flag": ['"76"', '"E7"', '"88"', '"<script>alert(1)</script>"'],
                "dur_code": ['"M0"', '"1G"', '"HD"']}


_VALUE_FACT = {"NUMBER": "n", "DATE": "d", "TRUE": "a", "FALSE": "a", "ID": "b"}


def _type_atoms(out: list[tuple[str, str, str]]) -> None:
    """Give each atom of a derived condition a fact of the type its operator and value need
    (a bool alone, an enum with `in`, a set with `<=`, a number, date or enum compared), so that
    most derived conditions pass the checks; equality only where the value is not ordered."""
    for i, (_, symbol, parent) in enumerate(out):
        if symbol != "ID" or parent != "atom":
            continue
        following = [sym for _, sym, _ in out[i + 1:i + 3]] + ["", ""]
        if following[0] == "IN":
            fact = "b"
        elif following[0] == "__ANON_1" and following[1] == "LBRACE":
            fact = "s"
        elif out[i + 1:] and out[i + 1][2] == "compare_op":
            fact = _VALUE_FACT.get(following[1], "a")
            if fact in ("a", "b") and out[i + 1][0] not in ("==", "!="):
                out[i + 1] = ("==", out[i + 1][1], out[i + 1][2])
        else:
            fact = "a"
        out[i] = (fact, symbol, parent)


def derive(data: st.DataObject, start: str = "start", budget: int = 120,
           pools: dict | None = None, valid: bool = False) -> str:
    """A random sentence of the grammar from `start`, drawn through Hypothesis so it shrinks.

    `pools` overrides the names an ID takes by its rule; `valid` draws numbers, dates and strings
    that pass the checks."""
    pools = {**_POOLS, **(pools or {})}
    values = {**_TERMINAL_VALUES, **(_VALID_VALUES if valid else {})}
    rules, terminals, cost = grammar_tables()
    stack: list[tuple[str, str]] = [(start, "")]
    out: list[tuple[str, str, str]] = []  # (text, terminal, the rule it stands in)
    spent = 0
    while stack:
        symbol, parent = stack.pop()
        if symbol in terminals:
            kind, value = terminals[symbol]
            if kind == "str":
                text = value
            elif symbol == "ID":
                before = out[-1][1] if out else None
                # Lark numbers the rules it makes for `x*` in grammar order ("__id_list_star_3"):
                # a pool names one without its number, which any new rule would shift.
                parent = re.sub(r"^(__\w+_(?:star|plus))_\d+$", r"\1", parent)
                pool = pools.get((parent, before)) or pools.get((parent, None)) or _IDS
                text = data.draw(st.sampled_from(pool))
            elif symbol == "STRING" and parent == "factor_use":
                text = data.draw(st.sampled_from(_SHARED_FILES))
            elif symbol == "STRING" and valid and parent in _VALID_CODES:
                text = data.draw(st.sampled_from(_VALID_CODES[parent]))
            else:
                text = data.draw(st.sampled_from(values[symbol]))
            out.append((text, symbol, parent))
            continue
        expansions = rules[symbol]
        spent += 1
        if spent > budget:  # finish as shortly as possible
            choice = min(expansions, key=lambda e: sum(cost[s] for s in e))
        else:
            choice = expansions[data.draw(st.integers(0, len(expansions) - 1))]
        stack.extend((child, symbol) for child in reversed(choice))
    if valid:
        _type_atoms(out)
    separators = st.sampled_from([" ", " ", " ", "\n", "\n  ", " # c\n", "\t"])
    return "".join(text + data.draw(separators) for text, _, _ in out)


def coherent_policy(data: st.DataObject) -> str:
    """A policy whose declarations fit together, around derived limits, conditions and rules:
    most draws are valid, so the checks, the generators and the evaluators all get exercised."""
    pieces = [f"policy fuzz-policy {data.draw(st.sampled_from(_VALID_VALUES['STRING']))} {{",
              f"  type {data.draw(st.sampled_from(_POOLS[('setting', 'TYPE')][:4]))}",
              "  channel specialty \"Specialty\"", "  channel mail \"Mail\"",
              '  product p { brand "B" generic "g" form "cream" package pk1 30 g "tube" as tube'
              ' package pk2 60 g "jar" as box contains 5 mg x contains 2 mg oxycodone }',
              '  product q { brand "B" generic "g" form "tablet" unit each'
              ' package pk1 30 each "bottle of 30" as bottle contains 10 mg x'
              ' contains 5 mg oxycodone }',
              # derived `dose x` and `dose mme` lines count these; the MME table is the shared
              # one (fuzz.dqm compiles from the repository root)
              '  use factors mme from "policy_specs/shared/cdc-2022-mme.dqm"',
              '  fact a: bool "A?"', '  fact b: enum {x, y, z} "B?"', '  fact n: number "N?"',
              '  fact d: date "D?"', '  fact s: set {x, y, z} "S?"']
    if data.draw(st.booleans()):
        pieces.append("  approvals last " + derive(data, "duration_start", 5, valid=True))
    if data.draw(st.booleans()):
        pieces.append("  daily_rate_check true")
    units = {"p": {("quantity", None): ["g", "tube", "tubes", "box"]},
             "q": {("quantity", None): ["each", "tablets", "bottles"],
                   ("selector", "PACKAGE"): ["pk1"]}}
    for target in ("p", "q"):
        lines = [derive(data, "limit_line_start", 25, units[target], valid=True)
                 for _ in range(data.draw(st.integers(1, 3)))]
        pieces.append(f"  limit {target} {{\n    " + "\n    ".join(lines) + "\n  }")
    for number in range(data.draw(st.integers(0, 2))):
        target = data.draw(st.sampled_from(["p", "q"]))
        approve = derive(data, "rule_start", 12, units[target], valid=True)
        channel = data.draw(st.sampled_from(["all", "all", "all", "retail", "specialty"]))
        extra = ("\n    renews c1" if number == 1 and data.draw(st.booleans()) else "")
        pieces.append(f"  criterion c{number + 1} {{\n    when "
                      f"{derive(data, 'expr_start', 30, valid=True)}"
                      f"\n    approve {target} {{ {channel} {approve} }}{extra}\n  }}")
    if data.draw(st.integers(0, 3)) == 0:
        pieces.append(derive(data, "start", 40).split("{", 1)[1].rsplit("}", 1)[0])
    return "\n".join(pieces) + "\n}\n"


GRAMMAR_FUZZ = settings(max_examples=examples(400), deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_fuzz_stats: dict[str, int] = defaultdict(int)


_packages = itertools.count()


@functools.cache
def _fuzz_root() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="dqmc-fuzz-")  # removed when the process ends


def fresh_package(files: dict[str, bytes]):
    """The generated registry imported under a new name. (Not `load_generated`: it caches by
    content hash, which leaves out positions, so two layouts of one policy share the first's
    module and its trace locations.)"""
    root = Path(_fuzz_root().name) / str(next(_packages))
    for rel, data in files.items():
        if rel.startswith("python/"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
    # policy modules are imported on first use: the files stay until the process ends
    return import_package(root / "python/dqm_policies", f"_fuzzed_policies_{root.name}")


@GRAMMAR_FUZZ
@given(st.data())
def test_grammar_derivations_give_diagnostics_with_valid_positions(data: st.DataObject) -> None:
    assert_well_formed("fuzz.dqm", derive(data))


@settings(GRAMMAR_FUZZ, max_examples=examples(200))  # each valid one is built and imported
@given(st.data())
def test_derived_policies_compile_build_and_decide_alike_in_both_evaluators(
        data: st.DataObject) -> None:
    text = coherent_policy(data)
    result = assert_well_formed("fuzz.dqm", text)
    _fuzz_stats["examples"] += 1
    if result.policy is None or any(d.is_error for d in result.diagnostics):
        return
    _fuzz_stats["valid"] += 1
    from dqmc.lang.compiled import CompiledPolicy
    from dqmc.lang.ir.canonical import content_hash

    compiled = CompiledPolicy(result.policy, "fuzz.dqm", content_hash(result.policy))
    files = artifacts([compiled], docs_config=DOCS_CONFIG)  # every .py is ast.parse'd here
    assert not [p for p, b in files.items() if p.startswith("docs/") and RAW_INVISIBLE.search(
        b.decode("utf-8"))]
    package = fresh_package(files)
    for product, unit, package_id in (("p", "g", "pk1"), ("p", "g", None), ("q", "each", None)):
        for channel in ("retail", "home_delivery", "specialty", "mail"):
            for quantity, days_supply in (("30", 30), ("60", 10), ("5", 90)):
                claim = {"claim_id": "c", "date_of_service": "2026-03-01", "product": product,
                         "quantity": quantity, "unit": unit, "days_supply": days_supply,
                         "channel": channel, "member": {"birth_date": "2012-06-01"},
                         "history": [{"claim_id": "h", "date_of_service": "2026-02-20",
                                      "product": product, "quantity": "30", "status": "paid"}],
                         "authorizations": [{"id": "pa", "products": [product], "criterion": "c1",
                                             "effective_from": "2026-01-01",
                                             "effective_through": "2026-12-31"}]}
                if package_id:
                    claim["package"] = package_id
                decision = package.evaluate(claim)
                assert decision == interpreter.evaluate(compiled, claim), claim
                _fuzz_stats["claims"] += 1
    for facts in ({}, {"a": True, "b": "x", "n": 3, "d": "2025-06-01", "s": ["x"]},
                  {"a": False, "b": "z", "s": []}):
        request = {"policy": "fuzz-policy", "request_date": "2026-01-15", "facts": facts}
        assert package.review(request) == interpreter.review(compiled, request)


@GRAMMAR_FUZZ
@given(st.data())
def test_grammar_fragments_as_yaml_values_give_diagnostics_at_yaml_positions(
        data: st.DataObject) -> None:
    when = derive(data, "expr_start", budget=30).replace("\n", " ")
    rule = derive(data, "limit_tail_start", budget=20).replace("\n", " ")
    text = ("policy: {id: p, title: T, type: per_days}\n"
            "products:\n  p: {brand: B, generic: g, form: cream, unit: g}\n"
            f"limits:\n  p:\n    retail: {yaml_str(rule)}\n"
            "facts:\n  a: {type: bool, question: A?}\n"
            "  n: {type: number, question: N?}\n"
            "  d: {type: date, question: D?}\n"
            "  b: {type: enum, values: [x, y], question: B?}\n"
            f"criteria:\n  c1:\n    when: {yaml_str(when)}\n"
            "    approve: {p: {retail: 60 g per 30 days}}\n")
    assert_well_formed("fuzz.yaml", text)


@functools.cache
def lark_sentences() -> st.SearchStrategy[str]:
    from hypothesis.extra.lark import from_lark
    from lark import Lark

    from dqmc.lang.grammars import DSL_GRAMMAR

    grammar = Lark(DSL_GRAMMAR.read_text(encoding="utf-8"), parser="lalr", start="start")
    return from_lark(grammar, start="start")


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_from_lark_sentences_never_raise(data: st.DataObject) -> None:
    assert_well_formed("lark.dqm", data.draw(lark_sentences()))


PIECES = [text for key, text in PAYLOADS.items() if key not in ("long", "mega")]


@settings(max_examples=examples(400), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_hostile_payloads_spliced_anywhere_never_raise(data: st.DataObject) -> None:
    base, path = data.draw(st.sampled_from([(ANZUPGO_DSL, "splice.dqm"),
                                            (ANZUPGO_YAML, "splice.yaml")]))
    text = base
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        piece = data.draw(st.sampled_from(PIECES))
        text = text[:at] + piece[:data.draw(st.integers(1, len(piece)))] + text[at:]
    assert_well_formed(path, text)


def test_grammar_fuzzing_reached_valid_policies() -> None:
    # Runs after the derived-policy test in file order: a generator that never produced a valid
    # policy would test only the parser's error path.
    # A floor, not an expected rate: about a quarter of derived policies are valid, but seeds
    # vary (22 of 200 was seen), and the point is only that the valid path is reached.
    if _fuzz_stats["examples"] >= 100:
        assert _fuzz_stats["valid"] >= _fuzz_stats["examples"] // 16, dict(_fuzz_stats)
    print(f"\nderived policies: {dict(_fuzz_stats)}")


def test_diagnostic_lines_never_carry_raw_controls_from_names_or_messages(tmp_path: Path) -> None:
    """A file name or a quoted id with bidi or control characters is shown inert (U+FFFD)."""
    from dqmc.lang.diagnostics import Diagnostic, render_all
    from dqmc.lang.source import Span

    for name in FILE_NAMES:
        diagnostic = Diagnostic("limit.unknown-product", f"no product 'x{name}y'",
                                Span.point(f"{name}.dqm", 3, 5))
        line = render_all([diagnostic], {})
        assert not RAW_INVISIBLE.search(line) and "\u2028" not in line, repr(name)
        assert line.count("\n") == 0, repr(name)  # one diagnostic, one line
        assert ":3:5: error[limit.unknown-product]: no product 'x" in line


@pytest.mark.parametrize("payload", ["bidi", "separators", "controls", "invisible", "mega"])
def test_convert_to_yaml_spells_invisible_characters_as_escapes(payload: str) -> None:
    """`dqmc convert --to yaml` keeps the IR and writes no raw invisible character."""
    from dqmc.lang.pipeline import compile_text
    from dqmc.lang.printers.yaml_emit import emit_yaml

    dsl = compile_text("hostile.dqm", dsl_policy("hostile-yaml", slot_text(PAYLOADS[payload])))
    assert dsl.policy is not None and not any(d.is_error for d in dsl.diagnostics)
    text = emit_yaml(dsl.policy)
    assert not RAW_INVISIBLE.search(text)
    assert not any(not c.isprintable() and c not in "\n" for c in text), payload
    again = compile_text("hostile.yaml", text)
    assert again.policy == dsl.policy, again.diagnostics
