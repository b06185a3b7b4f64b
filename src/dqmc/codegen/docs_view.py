"""Document view models: one IR policy turned into the words, lists and tables its documents show.

Templates only place what these functions prepare: every phrase ("60 grams per 30 days at
retail"), every column header and every number is computed here from the IR, so the Markdown and
HTML documents can never disagree with each other or with the evaluator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from dqmc.codegen.docs_examples import WorkedExamples
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes
from dqmc.lang.printers.english import (
    SERVES_SENTENCE,
    ConditionLine,
    ConditionView,
    DateView,
    channel_in_sentence,
    channel_label,
    condition_view,
    counted,
    criterion_heading,
    date_view,
    duration_phrase,
    flatten_conditions,
    humanize,
    join_words,
    join_words_or,
    one_fill_within,
    one_line,
    paragraphs,
    product_name,
    quantity_phrase,
    rule_phrase,
    selector_phrase,
    sentence_case,
    soft_edit_qualifiers,
    target_name,
    target_products,
)

# The reference document's heading ends with the kind of limit it states ("... POLICY - PER DAYS").
HEADING_SUFFIX_BY_POLICY_TYPE: dict[str, str] = {
    "per_days": "Per Days",
    "per_rx": "Per Rx",
    "per_day": "Per Day",
}

# Prose sections shown before the quantity table, in this order; every other kind follows the
# criteria (as the reference policy orders them: overview, dosing, availability, policy statement).
LEADING_SECTION_KINDS: tuple[str, ...] = ("overview", "dosing", "availability", "policy_statement")

LIMITS_TABLE_CAPTION = "Drug Quantity Limits"
ALL_CHANNELS_LABEL = "All channels"
EMPTY_CELL = "—"  # what a table cell shows when no limit applies in its column
HARD_LIMIT_QUALIFIER = "hard limit, no exceptions"
IMPLEMENTATION_DATE_QUALIFIER = "implementation date"
PRIOR_AUTHORIZATION_QUALIFIER = "prior authorization required"


# ---------------------------------------------------------------------------------------------
# View models


@dataclass(frozen=True, slots=True)
class SectionView:
    """A prose section: its title, its paragraphs, and any list the IR adds (e.g. packages)."""

    kind: str
    title: str
    paragraphs: tuple[str, ...]
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitColumn:
    """A quantity-table column: one channel (None: all channels).

    `days` is the window every limit of the column shares, when they all share one: the header
    then says "per N days" and the cells give the quantity alone, as the payer's tables do.
    """

    channel: str | None
    days: int | None
    header: str


@dataclass(frozen=True, slots=True)
class LimitRow:
    """A row of the quantity-limits table: one product or group and band, one cell per column.

    `band` is the age band or package the row's limits are for ("ages 0–17", "15 gram tube"),
    None for the limits that hold whatever the band. `members` are a group's products. A cell
    is the tuple of entries that apply there; an empty tuple means no limit in that column (the
    templates print EMPTY_CELL there). `anchor` is the HTML id of a target's first row, which
    the drug lookup links to.
    """

    product: str
    band: str | None
    members: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    anchor: str | None = None

    @property
    def label(self) -> str:
        """The row's name in one line (Markdown): "Strips (ages 0–17)", "Triptans: A; B"."""
        text = f"{self.product} — {self.band}" if self.band else self.product
        return f"{text}: {'; '.join(self.members)}" if self.members else text


@dataclass(frozen=True, slots=True)
class LimitsTable:
    caption: str
    columns: tuple[LimitColumn, ...]
    rows: tuple[LimitRow, ...]


@dataclass(frozen=True, slots=True)
class ApprovalView:
    """What a criterion approves for one product or group, as one sentence."""

    target: str
    sentence: str  # e.g. "Approve 60 grams per 30 days at retail and 180 grams per 90 days at ..."


@dataclass(frozen=True, slots=True)
class CriterionView:
    number: int
    id: str
    heading: str
    renewal_of: str | None  # the heading of the criterion this one renews
    serves: str | None  # "For renewal requests only ...", when the criterion says `for`
    lead: str  # e.g. "Approve when all of the following are true:"
    conditions: tuple[ConditionView, ...]
    condition_lines: tuple[ConditionLine, ...]
    approvals: tuple[ApprovalView, ...]
    duration: str | None  # "1 year", "a one-time approval", or None when nothing sets one
    duration_sentence: str | None


@dataclass(frozen=True, slots=True)
class VersionLink:
    """A kept earlier version's own document: where it is, and its last day in force."""

    html: str  # relative to the document that links it
    markdown: str
    through: DateView


@dataclass(frozen=True, slots=True)
class RevisionView:
    type: str
    summary: str
    date: DateView
    # the version this revision replaced, when it is kept (it decides the claims dated before)
    replaced: VersionLink | None = None


@dataclass(frozen=True, slots=True)
class DoseTable:
    """A small table of a daily-dose policy: what each product contains, or a factor table."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    source: str | None = None  # where a factor table's factors come from
    # a sentence naming the shared factor file a used table comes from (`use factors`)
    shared: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """Everything one published policy document shows, in reading order."""

    id: str
    heading: str
    title: str
    products_line: str
    review_date: DateView | None
    effective_date: DateView | None
    leading_sections: tuple[SectionView, ...]
    limits_table: LimitsTable | None
    examples: WorkedExamples | None  # claims on a limit's edges, decided by the evaluator
    dose_tables: tuple[DoseTable, ...]  # ingredient contents and conversion factors
    # How the evaluator applies the table: the reject code, the window, the daily rate and how
    # packages and earlier fills are counted, each stated from the IR (defaults included).
    limit_rules: tuple[str, ...]
    approval_duration_sentence: str | None
    fallback_sentence: str | None  # a fallback guideline says which requests it reviews
    criteria: tuple[CriterionView, ...]
    trailing_sections: tuple[SectionView, ...]
    references: tuple[str, ...]
    history: tuple[RevisionView, ...]
    # a kept earlier version's document: the last day it was in force, and the current document
    superseded: VersionLink | None = None


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One policy in the index page: what it is, what it covers, and where its documents are."""

    id: str
    title: str
    products: tuple[str, ...]
    review_date: DateView | None
    html_href: str
    markdown_href: str
    source: str


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """A product's limits at one channel (None: every channel), each in words."""

    channel: str | None
    label: str
    entries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DrugRow:
    """One product in the index's drug lookup (and in drugs.json): what it is, its limits in
    words per channel, whether an exception can be asked for, and where its policy says so."""

    product_id: str
    brand: str
    generic: str
    strength: str
    form: str
    policy_id: str
    policy_title: str
    limits: tuple[ChannelLimits, ...]
    exceptions: bool
    href: str  # the policy document, at the product's row of its limits table when it has one

    @property
    def search_text(self) -> str:
        """What the search box matches: the brand and the generic name."""
        return f"{self.brand} {self.generic}"


# ---------------------------------------------------------------------------------------------
# Words and numbers


# ---------------------------------------------------------------------------------------------
# Products, quantities and rules


def limit_entry(limit: nodes.Limit, products: Sequence[nodes.Product], *,
                in_window_column: bool, with_band: bool = True) -> str:
    """A limit as one table-cell entry: "30 grams per 30 days".

    A window column's header already says "per N days", so its cells give the quantity alone;
    a band row names its band, so its cells do not (`with_band` False).
    """
    if in_window_column and isinstance(limit.rule, nodes.PerWindow):
        core = quantity_phrase(limit.rule.quantity, products)
    else:
        core = rule_phrase(limit.rule, products)
    conditions = band_phrase(limit, products) if with_band else ""
    text = f"{conditions}: {core}" if conditions else core
    qualifiers = [limit.note] if limit.note else []
    if limit.hard:
        qualifiers.append(HARD_LIMIT_QUALIFIER)
    if limit.since is not None:
        qualifiers.append(f"{IMPLEMENTATION_DATE_QUALIFIER} {date_view(limit.since).text}")
    qualifiers += soft_edit_qualifiers(limit)
    return f"{text} ({'; '.join(qualifiers)})" if qualifiers else text


def band_phrase(limit: nodes.Limit, products: Sequence[nodes.Product]) -> str:
    """The age band or package a limit is for, in words ("ages 0–17"); "" for every claim."""
    return ", ".join(selector_phrase(selector, products) for selector in limit.when)


# ---------------------------------------------------------------------------------------------
# Channels and the quantity-limits table


def channel_order(policy: nodes.Policy) -> tuple[str | None, ...]:
    """All-channel rules first, then the declared channels, then any other channel a rule names."""
    declared = [channel.id for channel in policy.channels] or [
        cid for cid, _ in nodes.DEFAULT_CHANNELS
    ]
    used = [limit.channel for limit in policy.limits if limit.channel is not None]
    return (None, *dict.fromkeys([*declared, *used]))


def channel_name(policy: nodes.Policy, channel: str | None) -> str:
    """A channel's label, "All channels" for rules that hold at every channel."""
    return ALL_CHANNELS_LABEL if channel is None else channel_label(policy, channel)


def column_header(policy: nodes.Policy, channel: str | None, days: int | None) -> str:
    if channel is None:
        if days is None:
            return "Limits (All Channels)"
        return f"Maximum Quantity per {counted(days, 'Day')} (All Channels)"
    label = channel_label(policy, channel)
    if days is None:
        return f"{label} Limits"
    return f"{label} Maximum Quantity per {counted(days, 'Day')}"


# Lines with no window, which read the same in any column: `not covered` and `no limit`.
_WINDOWLESS = (nodes.NotCovered, nodes.NoLimit)


def shared_window(limits: Sequence[nodes.Limit]) -> int | None:
    """The window every limit shares when all are rolling-window limits of one length.

    A `not covered` or `no limit` line has no window and reads the same in any column ("Not
    covered"), so it does not stop the others sharing one.
    """
    windows = {limit.rule.days if isinstance(limit.rule, nodes.PerWindow) else None
               for limit in limits if not isinstance(limit.rule, _WINDOWLESS)}
    return next(iter(windows)) if len(windows) == 1 else None


def table_targets(policy: nodes.Policy) -> tuple[str, ...]:
    """Rows in the order products and groups are declared, then any other target limits name."""
    declared = [product.id for product in policy.products] + [group.id for group in policy.groups]
    limited = list(dict.fromkeys(limit.target for limit in policy.limits))
    ordered = [target for target in declared if target in limited]
    return tuple(ordered + [target for target in limited if target not in ordered])


def row_anchor(target: str) -> str:
    """The HTML id of a product's or group's first row in the quantity-limits table."""
    return f"limits-{target}"


def dose_tables(policy: nodes.Policy) -> tuple[DoseTable, ...]:
    """What daily-dose rules count: each product's ingredients per billing unit, then every
    factor table with its source; none for a policy without contents."""
    holding = [p for p in policy.products if p.contents]
    if not holding:
        return ()
    tables = [DoseTable(
        "Ingredient Content per Unit", ("Product", "One unit contains"),
        tuple((product_name(p), join_words([f"{c.amount.normalize():f} {c.unit} {c.ingredient}"
                                            for c in p.contents])) for p in holding))]
    tables += [DoseTable(
        f"Conversion Factors: {one_line(t.title)}",
        ("Ingredient", f"{t.id.upper()} per {_content_unit(policy, t)}"),
        tuple((f.ingredient, f"{f.factor.normalize():f}") for f in t.factors),
        None if t.source is None else one_line(t.source),
        None if t.origin is None else
        f"These factors are the shared table {t.id} of {one_line(t.origin)}: every policy that "
        "uses it counts by the same factors.") for t in policy.factor_tables]
    return tuple(tables)


def _content_unit(policy: nodes.Policy, table: nodes.FactorTable) -> str:
    """The unit the products state a table's ingredients in (the checks hold it to one)."""
    return next((c.unit for p in policy.products for c in p.contents
                 if table.factor(c.ingredient) is not None), "unit")


def limits_table(policy: nodes.Policy) -> LimitsTable | None:
    """The quantity-limits table: a row per product or group and band, a column per channel.

    A column whose limits all share one window says it in its header ("Retail Maximum Quantity
    per 30 Days") and its cells give quantities; any other column ("Retail Limits") spells
    each limit out with its window ("300 strips per 30 days"). A target whose limits differ by
    age band or package gets a row per band, after a row for its limits that hold in every
    band, so no cell repeats what its row already says.
    """
    if not policy.limits:
        return None
    rank = {channel: index for index, channel in enumerate(channel_order(policy))}
    by_channel: dict[str | None, list[nodes.Limit]] = {}
    for limit in policy.limits:
        by_channel.setdefault(limit.channel, []).append(limit)
    columns = tuple(
        LimitColumn(channel, days, column_header(policy, channel, days))
        for channel in sorted(by_channel, key=lambda channel: rank[channel])
        for days in (shared_window(by_channel[channel]),)
    )
    # One pass: a scan per row made a policy of thousands of products quadratic.
    by_row: dict[str, dict[str, list[nodes.Limit]]] = {}
    for limit in policy.limits:
        products = target_products(policy, limit.target)
        target_bands = by_row.setdefault(limit.target, {})
        target_bands.setdefault(band_phrase(limit, products), []).append(limit)
    rows = []
    for target in table_targets(policy):
        products = target_products(policy, target)
        # The limits that hold in every band first, then each band in the order written.
        bands = sorted(by_row[target], key=bool)
        name = target_name(policy, target)
        # A row whose every product needs prior authorization says so, as the source's
        # "Mekinist (PA required)" rows do.
        if products and all(
            policy.requires_authorization or product.requires_authorization
            for product in products
        ):
            name = f"{name} ({PRIOR_AUTHORIZATION_QUALIFIER})"
        members = tuple(product_name(p) for p in products) if policy.group(target) else ()
        for number, band in enumerate(bands):
            limits = by_row[target][band]
            cells = tuple(
                tuple(
                    limit_entry(limit, products, in_window_column=column.days is not None,
                                with_band=False)
                    for limit in limits
                    if limit.channel == column.channel
                )
                for column in columns
            )
            rows.append(LimitRow(name, band or None, members if number == 0 else (), cells,
                                 row_anchor(target) if number == 0 else None))
    return LimitsTable(LIMITS_TABLE_CAPTION, columns, tuple(rows))


# ---------------------------------------------------------------------------------------------
# Criteria


def approval_views(criterion: nodes.Criterion, policy: nodes.Policy) -> tuple[ApprovalView, ...]:
    """One sentence per product or group, listing what is approved at each channel."""
    views = []
    for target in dict.fromkeys(approval.target for approval in criterion.approves):
        products = target_products(policy, target)
        parts = []
        for approval in criterion.approves:
            if approval.target != target:
                continue
            phrase = rule_phrase(approval.rule, products)
            if approval.channel is None:
                parts.append(f"{phrase} (all channels)")
            else:
                parts.append(
                    f"{phrase} at {channel_in_sentence(channel_label(policy, approval.channel))}"
                )
        views.append(ApprovalView(target_name(policy, target), f"Approve {join_words(parts)}."))
    if criterion.approves_requested:
        # `approve requested a, b`: only requests for those products or groups
        named = join_words([target_name(policy, t) for t in criterion.requested_for])
        views.append(ApprovalView("Quantity", "Approve the quantity requested, per the period "
                                  "requested, at the channels requested"
                                  + (f", for {named} only." if named else ".")))
    return tuple(views)


def criterion_view(number: int, criterion: nodes.Criterion, policy: nodes.Policy) -> CriterionView:
    renewed = next((c for c in policy.criteria if c.id == criterion.renews), None)
    renewal_of = None
    if criterion.renews is not None:
        renewal_of = (
            criterion_heading(renewed)
            if renewed is not None
            else sentence_case(humanize(criterion.renews))
        )
    if renewal_of is not None and criterion.title is None:
        heading = f"Renewal of {renewal_of}"
    elif renewal_of is not None:
        heading = f"{criterion.title} (renewal of {renewal_of})"
    else:
        heading = criterion_heading(criterion)
    top = condition_view(criterion.when, policy)
    if top.children:
        lead, conditions = f"Approve when {top.text}", top.children
    else:
        lead, conditions = "Approve when the following is true:", (top,)
    duration = criterion.duration or policy.approval_duration
    duration_text = duration_phrase(duration) if duration is not None else None
    if criterion.approves_requested and (duration is None or duration.kind == "as_requested"):
        duration_sentence = "The approval lasts until the date the request asks for."
    elif duration is None:
        duration_sentence = None
    elif duration.kind == "one_time":
        duration_sentence = f"This is a one-time approval{one_fill_within(duration)}."
    elif duration.kind == "one_time_or_requested":
        duration_sentence = (f"This is a one-time approval{one_fill_within(duration)}, unless the "
                             "request asks for an end date: then the approval lasts until that "
                             "date.")
    else:
        duration_sentence = f"Approvals under this criterion last {duration_text}."
    return CriterionView(
        number=number,
        id=criterion.id,
        heading=heading,
        renewal_of=renewal_of,
        serves=SERVES_SENTENCE.get(criterion.serves or ""),
        lead=lead,
        conditions=conditions,
        condition_lines=flatten_conditions(conditions),
        approvals=approval_views(criterion, policy),
        duration=duration_text,
        duration_sentence=duration_sentence,
    )


# ---------------------------------------------------------------------------------------------
# Sections and the whole document


def availability_items(policy: nodes.Policy) -> tuple[str, ...]:
    """One line per product sold in packages or identified by codes: "Anzupgo (delgocitinib 2%
    cream): 30 gram tube", with the GPI and NDCs claims are matched by, where the spec gives
    them (a claim with an NDC the product does not list is rejected, so the document lists
    them)."""
    items = []
    for product in policy.products:
        if not (product.packages or product.ndcs or product.gpi):
            continue
        codes = ([f"GPI {product.gpi}"] if product.gpi else []) + (
            [f"NDC {', '.join(product.ndcs)}"] if product.ndcs else [])
        name = product_name(product) + (f" ({'; '.join(codes)})" if codes else "")
        packages = join_words_or([_package_text(p) for p in product.packages])
        items.append(f"{name}: {packages}" if packages else name)
    return tuple(items)


def _package_text(package: nodes.Package) -> str:
    notes = (["package size as listed in the drug file"] if package.size is None else []) + (
        [f"NDC {', '.join(package.ndcs)}"] if package.ndcs else [])
    return package.description + (f" ({'; '.join(notes)})" if notes else "")


def section_views(policy: nodes.Policy) -> tuple[tuple[SectionView, ...], tuple[SectionView, ...]]:
    """(sections before the quantity table, sections after the criteria), with the packages."""
    rank = {kind: index for index, kind in enumerate(LEADING_SECTION_KINDS)}
    leading_sections = sorted(
        (section for section in policy.sections if section.kind in rank), key=lambda s: rank[s.kind]
    )
    items = availability_items(policy)
    leading: list[SectionView] = []
    listed = False
    for section in leading_sections:
        extra = items if section.kind == "availability" and not listed else ()
        listed = listed or bool(extra)
        leading.append(SectionView(section.kind, section.title, paragraphs(section.text), extra))
    if items and not listed:
        position = sum(1 for view in leading if rank[view.kind] < rank["availability"])
        leading.insert(position, SectionView("availability", "Availability", (), items))
    trailing = tuple(
        SectionView(section.kind, section.title, paragraphs(section.text))
        for section in policy.sections
        if section.kind not in rank
    )
    return tuple(leading), trailing


FALLBACK_SENTENCE = ("These criteria also decide exception requests for any product whose own "
                     "quantity-limit policy has no criteria.")


# NCPDP 511-FB meanings of the reject codes a policy may state for a claim over a limit
# (/work/shared/domain.md §1.3); a code not listed is printed alone.
REJECT_CODE_MEANINGS = {"76": "Plan Limitations Exceeded", "75": "Prior Authorization Required",
                        "79": "Refill Too Soon", "AG": "Days Supply Limitation for Product/Service",
                        "19": "M/I Days Supply"}


def limit_rules(policy: nodes.Policy) -> tuple[str, ...]:
    """The sentences under the limits table saying how a claim is held to it, from what the IR
    states (the reject code, the daily-rate check) and the rules it holds."""
    if not policy.limits:
        return ()
    meaning = REJECT_CODE_MEANINGS.get(policy.reject_code)
    code = policy.reject_code + (f" ({meaning})" if meaning else "")
    out = [f"A pharmacy claim over a limit is rejected with NCPDP reject code {code}."]
    rules = [n for n in policy.walk() if isinstance(n, (nodes.PerWindow, nodes.FillsPerWindow))]
    if rules:
        out.append("A limit per a number of days counts what was paid in a rolling window of "
                   "that many days ending on the date of service, the claim itself included.")
        if policy.daily_rate_check:
            out.append("A claim is also held to each such limit's daily rate: its quantity may "
                       "not exceed the limit × its days supply ÷ the days of the window, rounded "
                       "down to a thousandth.")
        else:
            out.append("A claim's days supply is not compared with the window: a claim for "
                       "fewer days may use the whole limit.")
    if any(product.drug_file_sized for product in policy.products):
        out.append("Where a limit counts packages whose size the payer's drug file gives, it is "
                   "that many packages of the claim's size, rounded down to a thousandth of a "
                   "unit, and earlier fills are counted in packages of that size, rounded up.")
    out.append(billing_units_sentence(policy))
    out.append("Earlier fills count in the product's billing unit: a fill recorded as a number "
               "of packages counts their size as listed here, and a claim whose history holds "
               "a fill in a unit that cannot be converted is rejected with NCPDP reject code PZ "
               "(Non-Matched Unit of Measure to Product/Service ID).")
    return tuple(out)


# The billing units in words, with their NCPDP 600-28 codes, as claims state them.
UNIT_NAMES = {"g": "grams", "mL": "milliliters", "each": "units"}


def billing_units_sentence(policy: nodes.Policy) -> str:
    """Which unit each product's claims are billed in (a claim in another is rejected PZ)."""
    by_unit: dict[str, list[str]] = {}
    for product in policy.products:
        by_unit.setdefault(product.unit, []).append(product_name(product))
    # The unit most products share is named once; the others name their products.
    common = max(by_unit, key=lambda unit: len(by_unit[unit]))
    parts = f"in {UNIT_NAMES[common]} ({nodes.NCPDP_UNIT[common]})"
    others = [f"in {UNIT_NAMES[unit]} ({nodes.NCPDP_UNIT[unit]}): {join_words(names)}"
              for unit, names in by_unit.items() if unit != common]
    if others:
        parts += ", except " + "; ".join(others)
    return (f"Claims are billed {parts}; a claim in another unit is rejected with NCPDP reject "
            "code PZ.")


def policy_duration_sentence(duration: nodes.Duration | None) -> str | None:
    """The sentence under Criteria giving the policy's approval duration, if it sets one."""
    if duration is None:
        return None
    if duration.kind == "one_time":
        return (f"Approvals are one-time approvals{one_fill_within(duration)} unless a criterion "
                "says otherwise.")
    if duration.kind == "as_requested":
        return ("Approvals last until the date the request asks for unless a criterion says "
                "otherwise.")
    if duration.kind == "one_time_or_requested":
        return (f"Approvals are one-time approvals{one_fill_within(duration)}, or last until the "
                "date the request asks for, unless a criterion says otherwise.")
    phrase = duration_phrase(duration)
    return f"Approvals are provided for {phrase} unless a criterion says otherwise."


def document_heading(base_heading: str, policy: nodes.Policy) -> str:
    """The configured heading, followed by the policy's kind: "... POLICY – PER DAYS"."""
    suffix = HEADING_SUFFIX_BY_POLICY_TYPE.get(policy.type)
    return f"{base_heading} – {suffix.upper()}" if suffix else base_heading


def policy_document(policy: nodes.Policy, *, base_heading: str,
                    revision_summaries: Mapping[int, str] | None = None,
                    examples: WorkedExamples | None = None,
                    replaced: Mapping[int, dt.date] | None = None,
                    superseded: dt.date | None = None) -> PolicyDocument:
    """The view model of one policy's published document.

    `revision_summaries` fills revision rows whose spec gives no summary, by index in
    `policy.history` (the build computes them from kept earlier versions with `dqmc diff`).
    `replaced` gives, by the same index, the last day of the kept version a revision replaced,
    whose own document the row links. `superseded`: this is a kept version's document, in
    force through that day.
    """
    generated = revision_summaries or {}
    before = replaced or {}
    leading, trailing = section_views(policy)
    return PolicyDocument(
        id=policy.id,
        heading=document_heading(base_heading, policy),
        title=one_line(policy.title),
        products_line="; ".join(product_name(product) for product in policy.products),
        review_date=date_view(policy.review_date) if policy.review_date else None,
        effective_date=date_view(policy.effective_date) if policy.effective_date else None,
        leading_sections=leading,
        limits_table=limits_table(policy),
        examples=examples,
        dose_tables=dose_tables(policy),
        limit_rules=limit_rules(policy),
        approval_duration_sentence=policy_duration_sentence(policy.approval_duration),
        fallback_sentence=FALLBACK_SENTENCE if policy.fallback else None,
        criteria=tuple(
            criterion_view(number, criterion, policy)
            for number, criterion in enumerate(policy.criteria, start=1)
        ),
        trailing_sections=trailing,
        references=tuple(one_line(reference.text) for reference in policy.references),
        history=tuple(
            RevisionView(
                one_line(revision.type),
                one_line(revision.summary or generated.get(index, "")),
                date_view(revision.date),
                version_link(policy.id, before[index]) if index in before else None,
            )
            for index, revision in enumerate(policy.history)
        ),
        superseded=(None if superseded is None else
                    VersionLink(f"../{policy.id}.html", f"../{policy.id}.md",
                                date_view(superseded))),
    )


def product_targets(policy: nodes.Policy, product: nodes.Product) -> tuple[str, ...]:
    """The limit targets that name a product: itself, then the group it belongs to."""
    groups = [group.id for group in policy.groups if product.id in group.products]
    return (product.id, *groups)


def has_exceptions(policy: nodes.Policy, product: nodes.Product) -> bool:
    """Whether some criterion can approve more of the product than its limits allow."""
    targets = set(product_targets(policy, product))
    for criterion in policy.criteria:
        if any(approval.target in targets for approval in criterion.approves):
            return True
        if criterion.approves_requested and (
                not criterion.requested_for or targets & set(criterion.requested_for)):
            return True
    return False


def product_limits(policy: nodes.Policy, product: nodes.Product) -> tuple[ChannelLimits, ...]:
    """Every limit on a product (its own and its group's), in words, by channel."""
    targets = product_targets(policy, product)
    by_channel: dict[str | None, list[str]] = {}
    for limit in policy.limits:
        if limit.target not in targets:
            continue
        entry = limit_entry(limit, target_products(policy, limit.target), in_window_column=False)
        if limit.target != product.id:  # a group's limit counts every member's fills
            entry = f"{entry}, shared with {target_name(policy, limit.target)}"
        by_channel.setdefault(limit.channel, []).append(entry)
    return tuple(ChannelLimits(channel, channel_name(policy, channel), tuple(by_channel[channel]))
                 for channel in channel_order(policy) if channel in by_channel)


def drug_rows(compiled: Sequence[CompiledPolicy]) -> tuple[DrugRow, ...]:
    """The drug lookup: every product of every policy, by brand, generic, strength and policy."""
    rows = []
    # A fallback guideline reviews requests for products whose own policy has no criteria.
    fallback = next((item.policy for item in compiled if item.policy.fallback), None)
    for item in compiled:
        policy = item.policy
        reviewed_elsewhere = fallback is not None and not policy.criteria
        html_path, _ = document_paths(policy.id)
        limited = {limit.target for limit in policy.limits}
        for product in policy.products:
            target = next((t for t in product_targets(policy, product) if t in limited), None)
            fragment = (row_anchor(target) if target is not None
                        else "criteria-heading" if policy.criteria else None)
            href = quote(html_path) + (f"#{quote(fragment)}" if fragment else "")
            rows.append(DrugRow(
                product_id=product.id, brand=one_line(product.brand),
                generic=one_line(product.generic), strength=one_line(product.strength or ""),
                form=one_line(product.form), policy_id=policy.id,
                policy_title=one_line(policy.title), limits=product_limits(policy, product),
                exceptions=reviewed_elsewhere or has_exceptions(policy, product), href=href))
    return tuple(sorted(rows, key=lambda row: (
        row.brand.casefold(), row.generic.casefold(), row.strength.casefold(),
        row.form.casefold(), row.policy_title.casefold(), row.policy_id, row.product_id)))


def version_link(policy_id: str, last_day: dt.date) -> VersionLink:
    """The link from a policy's document to its version in force through `last_day`."""
    html, markdown = version_document_paths(policy_id, last_day)
    return VersionLink(html, markdown, date_view(last_day))


def version_document_paths(policy_id: str, last_day: dt.date) -> tuple[str, str]:
    """The (HTML, Markdown) file names of a kept version's documents, relative to
    generated/docs/: `<policy-id>/<last day>.html`."""
    return (f"{policy_id}/{last_day.isoformat()}.html",
            f"{policy_id}/{last_day.isoformat()}.md")


def document_paths(policy_id: str) -> tuple[str, str]:
    """The (HTML, Markdown) file names of a policy's documents, relative to generated/docs/."""
    return f"{policy_id}.html", f"{policy_id}.md"


def index_entries(compiled: Sequence[CompiledPolicy]) -> tuple[IndexEntry, ...]:
    """The index page's rows, ordered by title then id whatever order the policies came in."""
    entries = []
    for item in compiled:
        policy = item.policy
        html_path, markdown_path = document_paths(policy.id)
        entries.append(
            IndexEntry(
                id=policy.id,
                title=one_line(policy.title),
                products=tuple(product_name(product) for product in policy.products),
                review_date=date_view(policy.review_date) if policy.review_date else None,
                html_href=quote(html_path),
                markdown_href=quote(markdown_path),
                source=item.source,
            )
        )
    return tuple(sorted(entries, key=lambda entry: (entry.title.casefold(), entry.title, entry.id)))
