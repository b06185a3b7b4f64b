"""Diagnostics: the code registry, the Diagnostic record, sorting and the text renderers."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dqmc.lang.source import SourceFile, Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "note": 2}[self.value]


# Every code the compiler can report, with its default severity and what it is about.
# Codes are stable: once released, a code is never renamed (tools and editors match on them).
CODES: dict[str, tuple[Severity, str]] = {
    # Reading files.
    "io.read": (Severity.ERROR, "a spec file cannot be read"),
    "io.encoding": (Severity.ERROR, "a spec file is not valid UTF-8"),
    "io.too-large": (Severity.ERROR, "a spec file is larger than the configured limit"),
    "io.unknown-kind": (Severity.ERROR, "a file is neither a YAML spec nor a DSL spec"),
    # DSL syntax.
    "syntax.unexpected-token": (Severity.ERROR, "a token the grammar does not allow here"),
    "syntax.unexpected-eof": (Severity.ERROR, "the file ends in the middle of a construct"),
    "syntax.unexpected-char": (Severity.ERROR, "a character no token can start with"),
    "syntax.second-policy": (Severity.ERROR, "a second `policy` block: a .dqm file holds one"),
    "syntax.invalid-value": (Severity.ERROR,
                             "a literal that does not denote a value (date, number)"),
    # YAML syntax and limits.
    "yaml.syntax": (Severity.ERROR, "the YAML text does not parse"),
    "yaml.duplicate-key": (Severity.ERROR, "a mapping repeats a key"),
    "yaml.unsafe-tag": (Severity.ERROR, "a YAML tag other than the core schema's"),
    "yaml.alias": (Severity.ERROR, "anchors and aliases are not allowed in policy specs"),
    "yaml.too-deep": (Severity.ERROR, "nesting deeper than the configured limit"),
    # JSON Schema validation of YAML specs.
    "schema.required": (Severity.ERROR, "a required key is missing"),
    "schema.unknown-key": (Severity.ERROR, "a key the schema does not define"),
    "schema.type": (Severity.ERROR, "a value of the wrong type"),
    "schema.enum": (Severity.ERROR, "a value outside the allowed set"),
    "schema.pattern": (Severity.ERROR, "a value that does not have the required form"),
    "schema.range": (Severity.ERROR, "a value outside the allowed range"),
    "schema.invalid": (Severity.ERROR, "a value the schema rejects"),
    # Names and references.
    "name.duplicate": (Severity.ERROR, "two definitions share an id"),
    "name.invalid": (Severity.ERROR, "an id that is not a valid identifier"),
    "limit.unknown-product": (Severity.ERROR, "a limit names a product or group not defined"),
    "limit.unknown-channel": (Severity.ERROR, "a limit names a channel the policy does not know"),
    "limit.unknown-package": (Severity.ERROR, "a rule selects a package the product does not have"),
    "limit.duplicate": (Severity.ERROR, "the same rule is given twice for one product and channel"),
    "limit.not-covered-conflict": (Severity.ERROR,
                                   "a product both not covered and limited at one channel"),
    "limit.empty": (Severity.ERROR, "a `limit X { }` block with no line: it limits nothing"),
    "limit.days-supply-under-therapy": (
        Severity.WARNING,
        "a days-supply cap that a therapy rule on the same claims makes redundant"),
    "group.unknown-product": (Severity.ERROR, "an accumulation group names a product not defined"),
    "group.overlap": (Severity.ERROR, "a product belongs to two accumulation groups"),
    "group.mixed-unit-quantity": (
        Severity.ERROR, "a quantity rule on a group whose products bill in different units"),
    "group.drug-file-mixed": (
        Severity.ERROR,
        "a count of drug-file-sized packages on a group with products sized in the spec"),
    "package.drug-file-mixed": (
        Severity.ERROR, "a product with packages sized both in the spec and from the drug file"),
    "quantity.drug-file-count": (
        Severity.ERROR,
        "a limit in billing units on a product whose package size comes from the drug file"),
    "criterion.unknown-product": (Severity.ERROR,
                                  "an approval names a product or group not defined"),
    "criterion.unknown-channel": (Severity.ERROR,
                                  "an approval names a channel the policy does not know"),
    "criterion.channel-not-in-base": (Severity.ERROR,
                                      "an approval for a channel with no base limit"),
    "criterion.approves-not-covered": (Severity.ERROR,
                                       "an approval where the product is not covered"),
    "criterion.approves-no-limit": (Severity.ERROR, "an approval of `no limit`"),
    "criterion.approves-less": (Severity.WARNING, "an approval below the base limit it replaces"),
    "criterion.approves-nothing": (Severity.ERROR, "a criterion with no approval"),
    "criterion.empty-approval": (Severity.ERROR,
                                 "an `approve X { }` block with no line: it approves nothing"),
    "criterion.requested-and-limits": (
        Severity.ERROR, "a criterion approving both stated limits and the quantity requested"),
    "criterion.as-requested-without-requested": (
        Severity.ERROR,
        "an approval lasting as requested in a criterion that does not approve requested"),
    "section.unknown-kind": (Severity.ERROR, "a prose section of an unknown kind"),
    "criterion.unsatisfiable": (Severity.ERROR, "a condition that can never be true"),
    "criterion.renews-unknown": (Severity.ERROR, "a renewal criterion names an unknown criterion"),
    "criterion.unknown-requests": (Severity.ERROR,
                                   "`for ... requests` names neither initial nor renewal"),
    "criterion.renews-initial-only": (Severity.ERROR,
                                      "a renewal criterion marked for initial requests only"),
    "criterion.no-initial": (Severity.WARNING, "every criterion serves renewal requests only"),
    "fact.unknown": (Severity.ERROR, "a condition uses a fact not declared"),
    "fact.type-mismatch": (Severity.ERROR, "a fact used with an operator or value of another type"),
    "fact.unknown-value": (Severity.ERROR, "an enum value the fact does not declare"),
    "fact.unused": (Severity.WARNING, "a fact no criterion uses"),
    # Quantities, units and windows.
    "unit.unknown": (Severity.ERROR, "a unit that is neither a billing unit nor a package noun"),
    "unit.mismatch": (Severity.ERROR, "a quantity in a unit other than the product's billing unit"),
    "quantity.non-positive": (Severity.ERROR, "a quantity that is zero or negative"),
    "quantity.too-large": (Severity.ERROR, "a limit above the largest quantity a claim can carry"),
    "quantity.not-whole-packages": (Severity.WARNING,
                                    "a limit that is not a whole number of packages"),
    "window.non-positive": (Severity.ERROR,
                            "a window, day count or fill count that is zero or negative"),
    "window.too-long": (Severity.ERROR, "a window longer than the evaluator supports"),
    # Daily-dose edits (lang/ir/check_dose.py).
    "product.duplicate-content": (Severity.ERROR, "a product states one ingredient twice"),
    "factors.duplicate": (Severity.ERROR, "a factor table or one of its ingredients twice"),
    "factors.empty": (Severity.ERROR, "a factor table lists no ingredient"),
    "factors.no-source": (Severity.WARNING, "a factor table does not cite its source"),
    "factors.unused": (Severity.WARNING, "a factor table no dose rule uses"),
    "factors.path": (Severity.ERROR,
                     "`use factors` names a path that is absolute or not a .dqm factor file"),
    "factors.no-file": (Severity.ERROR, "`use factors` names a file that cannot be read"),
    "factors.shared-file": (Severity.ERROR,
                            "a shared factor file that is a policy, does not parse or has errors"),
    "factors.unknown-table": (Severity.ERROR,
                              "`use factors` names a table its shared file does not define"),
    "dose.unknown-measure": (Severity.ERROR,
                             "a dose rule names neither a factor table nor an ingredient"),
    "dose.unit": (Severity.ERROR, "a dose limit in another unit than what it counts"),
    "dose.mixed-units": (Severity.ERROR, "a dose rule counts ingredients stated in two units"),
    "dose.no-content": (Severity.ERROR, "a dose rule's target contains nothing it counts"),
    "limit.hard-override": (Severity.ERROR, "a hard line that DUR/PPS codes would pass"),
    "override.code": (Severity.ERROR, "an override names a code that is not a DUR/PPS code"),
    "limit.duplicate-exclusion": (Severity.WARNING, "a line names one exclusion twice"),
    "rate.differs-between-channels": (Severity.NOTE, "channels allow different daily rates"),
    "age.invalid-band": (Severity.ERROR, "an age band whose bounds are reversed or negative"),
    # Dates and history.
    "date.invalid": (Severity.ERROR, "a date that is not a real calendar date"),
    "quantity.dose-mixed": (Severity.ERROR, "a limit in doses over products whose doses differ"),
    "product.dose-unit": (Severity.ERROR,
                          "a dose not in the product's billing unit, or not positive"),
    "date.month-only": (Severity.ERROR, "a month without a day where a day is needed"),
    "date.order": (Severity.ERROR, "dates that are out of order"),
    "history.out-of-order": (Severity.ERROR, "revision history rows that are not in date order"),
    "history.empty-summary": (Severity.ERROR,
                              "a revision whose summary is given but empty (blank text)"),
    "duration.invalid": (Severity.ERROR, "an approval duration that is not positive"),
    # Policy-level.
    "policy.missing-setting": (Severity.ERROR, "a required policy setting is missing"),
    "policy.duplicate-setting": (Severity.ERROR, "a policy setting is given twice"),
    "product.missing-field": (Severity.ERROR, "a product lacks a required field"),
    "product.duplicate-field": (Severity.ERROR, "a product field is given twice"),
    "criterion.missing-when": (Severity.ERROR, "a criterion has no condition"),
    "criterion.duplicate-field": (Severity.ERROR, "a criterion field is given twice"),
    "policy.unknown-type": (Severity.ERROR, "a policy type the compiler does not know"),
    "policy.twin-mismatch": (Severity.ERROR, "two spellings of one policy lower to different IR"),
    "policy.duplicate-id": (Severity.ERROR, "two spec files define the same policy id"),
    "policy.fallback-without-criteria": (Severity.ERROR, "a fallback guideline with no criteria"),
    "policy.second-fallback": (Severity.ERROR, "two fallback guidelines in one build"),
    # Effective-dated versions: a policy's kept earlier versions and its live spec.
    "version.overlap": (Severity.ERROR, "two versions of a policy in force on the same day"),
    "version.gap": (Severity.ERROR, "days between two versions of a policy with neither in force"),
    "version.shared-factors": (Severity.ERROR,
                               "a kept version takes a factor table from a shared file, which "
                               "may change after the version's days"),
    "version.empty": (Severity.ERROR, "a kept version whose effective date is after its last day"),
    "product.invalid-ndc": (Severity.ERROR, "an NDC that is not 11 ASCII digits"),
    "product.in-two-policies": (Severity.ERROR, "a product id or NDC covered by two policies"),
    "policy.no-limits": (Severity.WARNING, "a policy with no limits"),
    # The documents' settings (docs.config.yaml).
    "docs.no-config": (Severity.WARNING, "no documents' settings file: neutral boilerplate"),
    "docs.no-footer": (Severity.WARNING, "the documents' settings give no footer"),
    "policy.reject-code": (Severity.ERROR, "a reject code that is not an NCPDP reject code form"),
    # Verification: the claim space (dqmc verify; lang/verify/claim_space.py).
    "verify.age-gap": (Severity.ERROR,
                       "ages no line selects, for a product limited at that channel"),
    "verify.package-gap": (Severity.ERROR,
                           "a package no line selects, for a product limited by package"),
    "verify.channel-gap": (Severity.ERROR,
                           "a channel the policy limits where a limited product has no line"),
    "verify.overlap": (Severity.ERROR,
                       "two lines that share claims give different limits, neither containing "
                       "the other"),
    "verify.dead-rule": (Severity.ERROR, "a line that never decides a claim"),
    "verify.dead-criterion": (Severity.ERROR,
                              "a criterion whose approvals are never looser than the base"),
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a spec: a stable code, a severity, a message that says how to fix it."""

    code: str
    message: str
    span: Span
    severity: Severity | None = None  # None: the registry's default for the code

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code!r}")
        if self.severity is None:
            object.__setattr__(self, "severity", CODES[self.code][0])

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        s = self.span
        return (s.file, s.line, s.col, self.severity.rank, self.code, self.message)  # type: ignore[union-attr]

    def concise(self) -> str:
        s = self.span
        # A message may quote spec text (an id, a string): shown as the source line is, inert.
        return _printable(f"{s.file}:{s.line}:{s.col}: {self.severity.value}[{self.code}]: "  # type: ignore[union-attr]
                          f"{self.message}")


def error(code: str, message: str, span: Span) -> Diagnostic:
    return Diagnostic(code, message, span)


def sorted_unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by file, line, column, severity, code and message; drop exact repeats."""
    return sorted(set(diagnostics), key=Diagnostic.sort_key)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def render(diagnostic: Diagnostic, sources: Mapping[str, SourceFile]) -> str:
    """The full form: the concise line, then the source line and a caret under the span."""
    head = diagnostic.concise()
    source = sources.get(diagnostic.span.file)
    if source is None:
        return head
    span = diagnostic.span
    raw = source.line_text(span.line)
    if not raw and span.line > source.line_count:
        return head
    # Expand tabs before computing the caret column so the marker lines up on any terminal.
    prefix = raw[: max(span.col - 1, 0)].expandtabs(4)
    text = raw.expandtabs(4)
    if span.end_line == span.line:
        width = len(raw[span.col - 1 : max(span.end_col - 1, span.col)].expandtabs(4))
    else:
        width = len(text) - len(prefix)
    width = max(width, 1)
    gutter = f"{span.line:>5} | "
    marker = " " * len(prefix) + "^" + "~" * (width - 1)
    return f"{head}\n{gutter}{_printable(text)}\n{' ' * 6}| {marker}"


def _printable(text: str) -> str:
    # Control and bidi characters in a spec must not reorder or hide the quoted line on a terminal.
    return "".join(c if c.isprintable() or c == " " else "\N{REPLACEMENT CHARACTER}" for c in text)


def render_all(diagnostics: Iterable[Diagnostic], sources: Mapping[str, SourceFile]) -> str:
    return "\n".join(render(d, sources) for d in diagnostics)


def summary(diagnostics: Sequence[Diagnostic], files: int) -> str:
    """"1 error, 2 warnings in 3 files", as `dqmc check` and a failed build end."""
    counts = {s: sum(1 for d in diagnostics if d.severity is s) for s in Severity}
    parts = [f"{counts[Severity.ERROR]} error{'s' * (counts[Severity.ERROR] != 1)}",
             f"{counts[Severity.WARNING]} warning{'s' * (counts[Severity.WARNING] != 1)}"]
    if counts[Severity.NOTE]:
        parts.append(f"{counts[Severity.NOTE]} note{'s' * (counts[Severity.NOTE] != 1)}")
    return f"{', '.join(parts)} in {files} file{'s' * (files != 1)}"
