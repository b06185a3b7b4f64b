"""Lowering shared by both front ends: unit words, package conversion, text and number literals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir import nodes
from dqmc.lang.source import NO_SPAN, Span
from dqmc.runtime.values import DEFAULT_ONE_TIME_DAYS

# The largest spec a front end reads (the pipeline's file limit too): far above any real policy,
# well below what makes parsing slow. Text compiled from memory (`compile_text`) is held to it
# as well, so an editor integration cannot be handed an unbounded document.
MAX_SPEC_BYTES = 1 << 20

REJECT_CODE_PATTERN = re.compile(r"[A-Z0-9]{2,3}\Z")  # NCPDP 511-FB codes: "76", "E7", "PZ"

# Words an author may write for each billing unit; the IR keeps only the unit.
UNIT_WORDS: dict[str, nodes.BillingUnit] = {
    "g": "g", "gram": "g", "grams": "g",
    "mL": "mL", "milliliter": "mL", "milliliters": "mL",
    "each": "each",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RawQuantity:
    """A quantity as written ("2 tubes"), before the product it limits tells what a tube is.

    Front ends put it where the IR expects a Quantity; `resolve_quantities` replaces every one.
    """

    amount: Decimal
    word: str
    span: Span = NO_SPAN


# -- characters spec text may not hold ----------------------------------------------------------
#
# Spec text may hold any character (the printers round-trip controls and bidi controls as
# escapes, and every generator escapes or neutralises them), with two exceptions:
# - lone surrogates (U+D800-U+DFFF, from a `\uD800` escape in either front end) are not
#   characters at all: they cannot be written as UTF-8, and used to end `dqmc check` in an
#   internal error (UnicodeEncodeError while hashing the IR). Refused wherever text is read.
# - raw bidirectional embedding, override and isolate controls in a DSL file (U+202A-U+202E,
#   U+2066-U+2069), comments included: invisible, they make the source display in another order
#   than the parser reads it ("Trojan Source", CVE-2021-42574), so a reviewer could approve a
#   limit other than the one compiled. Written as `\u202e` escapes they are visible and allowed.
BIDI_CONTROLS = {
    "\u202a": "LEFT-TO-RIGHT EMBEDDING", "\u202b": "RIGHT-TO-LEFT EMBEDDING",
    "\u202c": "POP DIRECTIONAL FORMATTING", "\u202d": "LEFT-TO-RIGHT OVERRIDE",
    "\u202e": "RIGHT-TO-LEFT OVERRIDE", "\u2066": "LEFT-TO-RIGHT ISOLATE",
    "\u2067": "RIGHT-TO-LEFT ISOLATE", "\u2068": "FIRST STRONG ISOLATE",
    "\u2069": "POP DIRECTIONAL ISOLATE",
}
BIDI_PATTERN = re.compile("[\u202a-\u202e\u2066-\u2069]")
FORBIDDEN_TEXT = re.compile("[\ud800-\udfff]")


def describe_char(char: str) -> str:
    """A refused character as a message shows it, without printing the character itself."""
    code = f"U+{ord(char):04X}"
    if char in BIDI_CONTROLS:
        return (f"{code} ({BIDI_CONTROLS[char]}), an invisible control that makes text display "
                "in another order than it is stored")
    if "\ud800" <= char <= "\udfff":
        return (f"{code}, half of a UTF-16 surrogate pair and not a character (write the "
                "character itself instead of escapes)")
    return f"the control character {code}"


def forbidden_char(text: str) -> tuple[int, str] | None:
    """(index, description) of the first character spec text may not hold, or None."""
    match = FORBIDDEN_TEXT.search(text)
    if match is None:
        return None
    return match.start(), describe_char(match.group())


def parse_decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


_MONTH_ONLY = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_date(text: str, span: Span, diagnostics: list[Diagnostic]) -> dt.date | None:
    """A calendar date, YYYY-MM-DD; a month alone is refused here (it decides claims or answers)."""
    if _MONTH_ONLY.fullmatch(text):
        diagnostics.append(Diagnostic(
            "date.month-only", f"'{text}' gives no day; this date needs one (YYYY-MM-DD): only "
            "review and revision dates may be a month", span))
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        diagnostics.append(Diagnostic(
            "date.invalid", f"'{text}' is not a real calendar date; write YYYY-MM-DD", span))
        return None


def parse_policy_date(text: str, span: Span,
                      diagnostics: list[Diagnostic]) -> nodes.PolicyDate | None:
    """A review or revision date: YYYY-MM-DD, or YYYY-MM when the source gives no day."""
    month = _MONTH_ONLY.fullmatch(text)
    if month is None:
        return parse_date(text, span, diagnostics)
    year, number = int(month.group(1)), int(month.group(2))
    if year < 1 or not 1 <= number <= 12:
        diagnostics.append(Diagnostic(
            "date.invalid", f"'{text}' is not a real month; write YYYY-MM (or YYYY-MM-DD)", span))
        return None
    return nodes.Month(year, number)


def whole_number(text: str, what: str, span: Span, diagnostics: list[Diagnostic]) -> int:
    if text.isdigit() and text.isascii():
        return int(text)
    diagnostics.append(Diagnostic(
        "syntax.invalid-value", f"{what} must be a whole number, not '{text}'", span))
    return 0


def _plural_forms(noun: str) -> set[str]:
    """The spellings a package noun (`as tube`) is counted in: tube, tubes, tubees."""
    return {noun, noun + "s", noun + "es"}


_VOWELS = frozenset("aeiou")


def _reads_plural(word: str) -> bool:
    """Whether a form's word is written in the plural: "tablets", "patches", not "glass"."""
    return word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3


def plural_noun(noun: str) -> str:
    """The plural of a singular count noun: tablet → tablets, patch → patches, ampoule →
    ampoules, suppository → suppositories."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def singular_noun(word: str) -> str:
    """A count noun's singular: the word itself unless it reads plural (tablets → tablet,
    patches → patch, boxes → box, suppositories → suppository), so plural_noun gives it back."""
    if not _reads_plural(word):
        return word
    if word.endswith("ies") and len(word) > 4 and word[-4] not in _VOWELS:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    return word[:-1]


def form_nouns(product: nodes.Product) -> tuple[str, str] | None:
    """(singular, plural) of the noun an `each` product is counted in, from its form.

    The form's last word names one billing unit: "tablet" (tablet, tablets), "transdermal
    patch" (patch, patches), "combination pack of tablets" (tablet, tablets: the pack holds the
    tablets billed each; a pack is counted through a package declared `as pack`, which knows how
    many it holds). No other spelling is accepted, so a count word always denotes one unit.
    """
    if product.unit != "each":
        return None
    words = product.form.split()
    if not words:
        return None
    noun = singular_noun(words[-1].lower())
    return noun, plural_noun(noun)


def resolve_word(
    amount: Decimal, word: str, products: list[nodes.Product], span: Span,
    diagnostics: list[Diagnostic],
) -> nodes.Quantity:
    """Turn `amount word` into billing units for the given product(s) of one limit."""
    if word in UNIT_WORDS:
        return nodes.Quantity(amount=amount, unit=UNIT_WORDS[word], span=span)
    # Exact nouns and "-s" plurals first, across every package, then "-es": with packages
    # `as tub` and `as tube`, "2 tubes" means tubes, not tubs.
    for plural in (lambda n: {n, n + "s"}, _plural_forms):
        for product in products:
            for package in product.packages:
                if package.noun and word in plural(package.noun):
                    if package.size is None:  # sized by the drug file: count packages
                        return nodes.Quantity(
                            amount=amount, unit=product.unit, packages=amount,
                            package=package.id, per_package=True, span=span)
                    return nodes.Quantity(
                        amount=amount * package.size.amount, unit=package.size.unit,
                        packages=amount, package=package.id, span=span)
    if word in ("package", "packages") and products and all(
            p.drug_file_sized for p in products):
        # "4 per month" of "vials or syringes": any of the products' packages, each counted
        # as one, whatever size the drug file gives it.
        return nodes.Quantity(amount=amount, unit=products[0].unit, packages=amount,
                              per_package=True, span=span)
    if word in ("dose", "doses") and products and all(p.dose is not None for p in products):
        doses = {(p.dose.amount, p.dose.unit) for p in products}  # type: ignore[union-attr]
        if len(doses) > 1:
            diagnostics.append(Diagnostic(
                "quantity.dose-mixed",
                "these products' doses differ (" + ", ".join(
                    f"{p.id}: {p.dose.amount.normalize():f} {p.dose.unit}"  # type: ignore[union-attr]
                    for p in products) + "); a limit in doses needs one dose size: write the "
                "limit in billing units or on each product", span))
        dose = products[0].dose
        assert dose is not None
        return nodes.Quantity(amount=amount * dose.amount, unit=dose.unit, doses=amount,
                              span=span)
    for product in products:
        nouns = form_nouns(product)
        if nouns is not None and word.lower() in nouns:
            return nodes.Quantity(amount=amount, unit="each", noun=nouns[0], span=span)
    known = sorted({n for p in products for pk in p.packages if pk.noun for n in [pk.noun]})
    hint = "; this product's packages are counted as " + ", ".join(known) if known else ""
    counted = list(dict.fromkeys(nouns for p in products if (nouns := form_nouns(p))))
    if counted:
        hint += ("; this product's form is counted as " if len(counted) == 1 else
                 "; these products' forms are counted as ") + ", ".join(
                     f"{one} or {many}" for one, many in counted)
    if word in ("dose", "doses"):
        hint = "; to count doses, give every product its dose (`dose 1 each`)"
    diagnostics.append(Diagnostic(
        "unit.unknown",
        f"unknown unit '{word}': write g, mL or each, or a package noun declared with "
        f"`package ... as NOUN`{hint}", span))
    fallback: nodes.BillingUnit = products[0].unit if products else "each"
    return nodes.Quantity(amount=amount, unit=fallback, span=span)


def target_products(policy: nodes.Policy, target: str) -> list[nodes.Product]:
    """The products a limit's target names (the product, or its group's members): its quantity
    is resolved against them, and printers and reports word it through them."""
    product = policy.product(target)
    if product is not None:
        return [product]
    group = policy.group(target)
    if group is not None:
        return [p for pid in group.products if (p := policy.product(pid)) is not None]
    return []


def selected_packages(products: Sequence[nodes.Product],
                      when: Sequence[nodes.Selector]) -> list[nodes.Product]:
    """Products narrowed to the package a `when package ID` selector names, if any.

    "2 boxes" under `when package large` counts boxes of that package, not the product's first.
    """
    chosen = {s.package for s in when if isinstance(s, nodes.PackageIs)}
    if not chosen:
        return list(products)
    return [dataclasses.replace(p, packages=tuple(pk for pk in p.packages if pk.id in chosen))
            for p in products]


def _resolve_rule(rule: nodes.Rule, products: list[nodes.Product],
                  diagnostics: list[Diagnostic]) -> nodes.Rule:
    if not isinstance(rule, nodes.QuantityRule) or not isinstance(rule.quantity, RawQuantity):
        return rule
    quantity = rule.quantity
    if not products:
        # The target is unknown; the checks report that. Keep a well-typed placeholder.
        unit: nodes.BillingUnit = UNIT_WORDS.get(quantity.word, "each")
        resolved = nodes.Quantity(amount=quantity.amount, unit=unit, span=quantity.span)
    else:
        resolved = resolve_word(quantity.amount, quantity.word, products, quantity.span,
                                diagnostics)
    return dataclasses.replace(rule, quantity=resolved)


# How long approvals last when neither a criterion nor its policy says (docs/semantics.md §6.5).
DEFAULT_APPROVAL_DURATION = nodes.Duration(kind="fixed", amount=1, unit="years")
# A one-time approval's one fill must be used within this many days (the language has no way
# to say otherwise; the runtime's constant, so the two cannot differ).
ONE_TIME_USABLE_DAYS = DEFAULT_ONE_TIME_DAYS


def fill_defaults(policy: nodes.Policy) -> nodes.Policy:
    """The policy with every value it has without stating it written into the IR, so the
    evaluators, the documents and the content hash all read one explicit value.

    A policy with criteria and no `approvals last` gets approvals of 1 year; an `approve
    requested` criterion that neither it nor its policy gives a duration lasts as requested (the
    request's `requested.through` ends it), which is stated on the criterion before the policy's
    year is filled in, so it keeps that meaning. A one-time approval states the days its one
    fill may be used in (30). The reject code ("76") and the daily-rate check (off) are the
    IR's own field defaults, already explicit. A policy without criteria approves nothing, and
    keeps no approval duration.
    """
    criteria = policy.criteria
    duration = _one_time_usable(policy.approval_duration)
    if duration is None and criteria:
        criteria = tuple(
            dataclasses.replace(criterion, duration=nodes.Duration(kind="as_requested",
                                                                   span=criterion.span))
            if criterion.approves_requested and criterion.duration is None else criterion
            for criterion in criteria)
        duration = dataclasses.replace(DEFAULT_APPROVAL_DURATION, span=policy.span)
    criteria = tuple(
        dataclasses.replace(criterion, duration=_one_time_usable(criterion.duration))
        if criterion.duration is not _one_time_usable(criterion.duration) else criterion
        for criterion in criteria)
    if duration is policy.approval_duration and criteria == policy.criteria:
        return policy
    return dataclasses.replace(policy, approval_duration=duration, criteria=criteria)


def _one_time_usable(duration: nodes.Duration | None) -> nodes.Duration | None:
    """A one-time duration with the days its fill may be used in stated; others as they are."""
    if (duration is None or duration.kind not in ("one_time", "one_time_or_requested")
            or duration.unit is not None):
        return duration
    return dataclasses.replace(duration, amount=ONE_TIME_USABLE_DAYS, unit="days")


def resolve_quantities(policy: nodes.Policy) -> tuple[nodes.Policy, list[Diagnostic]]:
    """Replace every RawQuantity of limits and approvals with billing-unit quantities."""
    diagnostics: list[Diagnostic] = []
    limits = tuple(
        dataclasses.replace(limit, rule=_resolve_rule(
            limit.rule, selected_packages(target_products(policy, limit.target),
                                           limit.when),
            diagnostics))
        for limit in policy.limits)
    criteria = tuple(
        dataclasses.replace(criterion, approves=tuple(
            dataclasses.replace(approval, rule=_resolve_rule(
                approval.rule, target_products(policy, approval.target), diagnostics))
            for approval in criterion.approves))
        for criterion in policy.criteria)
    return dataclasses.replace(policy, limits=limits, criteria=criteria), diagnostics


def billing_size(amount: Decimal, word: str, span: Span,
                 diagnostics: list[Diagnostic]) -> nodes.Quantity:
    """A package size, which must be written in a billing unit (g, mL or each)."""
    if word not in UNIT_WORDS:
        diagnostics.append(Diagnostic(
            "unit.unknown", f"a package size is written in g, mL or each, not '{word}'", span))
        return nodes.Quantity(amount=amount, unit="each", span=span)
    return nodes.Quantity(amount=amount, unit=UNIT_WORDS[word], span=span)


def product_unit(explicit: str | None, packages: tuple[nodes.Package, ...], product_id: str,
                 span: Span, diagnostics: list[Diagnostic]) -> nodes.BillingUnit:
    """The product's billing unit: declared, or else its packages' unit."""
    if explicit is not None:
        if explicit in UNIT_WORDS:
            return UNIT_WORDS[explicit]
        diagnostics.append(Diagnostic(
            "unit.unknown", f"billing unit '{explicit}' is not one of g, mL, each", span))
        return "each"
    sized = [p for p in packages if p.size is not None]
    if sized:
        return sized[0].size.unit  # type: ignore[union-attr]
    why = (" (a package sized `from drug file` does not say which)" if packages
           else ", or a package with its size")
    diagnostics.append(Diagnostic(
        "product.missing-field",
        f"product '{product_id}' needs a billing unit: add `unit g`, `unit mL` or `unit each`"
        f"{why}", span))
    return "each"


def dedent_long_string(raw: str) -> str:
    """The text of a triple-quoted string: first newline dropped, common indent removed."""
    import textwrap

    body = raw[3:-3]
    if body.startswith("\n"):
        body = body[1:]
    # The closing quotes usually sit on their own indented line: that indentation is not text.
    head, _, last = body.rpartition("\n")
    if last.strip() == "":
        body = head
    return textwrap.dedent(body)


_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


def unescape_string(raw: str, span: Span, diagnostics: list[Diagnostic]) -> str:
    """The value of a "double-quoted" string: \\\\, \\", \\n, \\t and \\uXXXX escapes."""
    body = raw[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and len(body) >= i + 6 and all(c in "0123456789abcdefABCDEF"
                                                       for c in body[i + 2:i + 6]):
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        else:
            diagnostics.append(Diagnostic(
                "syntax.invalid-value",
                f"unknown escape '\\{nxt}' in a string; use \\\\, \\\", \\n, \\t or \\uXXXX", span))
            out.append(nxt)
            i += 2
    return "".join(out)
