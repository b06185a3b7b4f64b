"""How a generated policy module decides a claim: match, select, check, authorize, conclude."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

from .authorizations import _covers, override, read_authorizations
from .checks import CHECKS, Check, Member, check_rules
from .claims import Authorization, Claim, Rejection, read_dur_pps
from .history import (
    Kept,
    Paid,
    billed_history,
    history_unit_texts,
    keep_history,
    keep_typed,
    paid_fills,
    plan_supplies,
)
from .read import (
    _MILLI_TEXT,
    MILLI,
    ORDINAL,
    day_text,
    milli,
    milli_text,
    read_milli,
    read_ndc,
    read_ordinal,
)
from .tables import (
    Plan,
    Product,
    Refusal,
    sized_history,
    sized_plan,
    step_json,
    unsized_history_texts,
)
from .texts import (
    _MAX_ALLOWED,
    BY_SERVICE,
    authorization_held_step,
    authorization_required_texts,
    matched_step,
    max_allowed_message,
    message,
    missing_supply_texts,
    not_covered_texts,
    select_step,
    unit_message,
    validated_step,
    version_detail,
    version_json,
)
from .values import (
    CODE_CHANNEL,
    CODE_NOT_COVERED,
    CODE_PRIOR_AUTHORIZATION,
    CODE_PRODUCT,
    CODE_RECORD,
    CODE_UNIT_MISMATCH,
    UNIT_ALIASES,
    Step,
    _named,
    _NamedTuple,
)

# Texts read before (thousandths, ordinals): a hit skips parsing the value again.
_MILLI, _ORDINAL, _UNIT = MILLI.get, ORDINAL.get, UNIT_ALIASES.get
_NO_EXCLUSIONS: frozenset[str] = frozenset()
# A decision's fields, in the order docs/contracts.md lists them
DECISION_FIELDS = ("outcome", "reject_code", "messages", "policy_id", "policy_hash", "channel",
                   "limit", "window", "prior_quantity", "requested_quantity", "total_quantity",
                   "max_allowed_quantity", "max_allowed_packages", "trace")


def decide_plain(policy: Policy, claim: dict) -> dict[str, object] | None:
    """The decision for a well-formed claim of plain JSON values that names a product, unit and
    channel with limits in `policy`; None for any other claim, which generated modules then
    read with `parse_claim` (it rejects the malformed ones) and decide by `decide_claim`.

    Fields go straight into local values (quantities in thousandths, dates as ordinals), with
    no Claim built: most claims a service sees are of this kind, and this is their whole cost
    before `judge`. Whatever this reader takes, `parse_claim` would read to the same values."""
    get = claim.get
    claim_id = get("claim_id")
    if claim_id is not None and (claim_id.__class__ is not str or not claim_id):
        return None
    value = get("quantity")
    requested = _MILLI(value) if value.__class__ is str else None
    if requested is None:
        requested = read_milli(value)
        if requested is None:
            return None
    days_supply = get("days_supply")
    if days_supply.__class__ is not int or not 1 <= days_supply <= 999:
        return None
    end_text = get("date_of_service")
    end = _ORDINAL(end_text) if end_text.__class__ is str else None
    if end is None:
        end = read_ordinal(end_text)
        if end is None:
            return None
    version = policy.version
    if version is not None and end <= version[2]:
        return None  # before this version took effect (`in_force`)
    product = get("product")
    ndc = get("ndc")
    if product is None:
        if ndc is None:
            return None
    elif product.__class__ is not str or not product:
        return None
    if ndc is not None and read_ndc(ndc) is None:
        return None
    unit = get("unit")
    if unit.__class__ is not str or not unit:
        return None
    channel = get("channel")
    if channel.__class__ is not str or not channel:
        return None
    package = get("package")
    if package is not None and (package.__class__ is not str or not package):
        return None
    value = get("package_size")
    if value is not None and read_milli(value) is None:
        return None
    dur_pps = get("dur_pps")
    if dur_pps is not None:
        dur_pps = read_dur_pps(dur_pps)
        if isinstance(dur_pps, Rejection):
            return None
    else:
        dur_pps = ()
    birth = None
    exclusions = _NO_EXCLUSIONS
    member = get("member")
    if member is not None:
        if member.__class__ is not dict:
            return None
        value = member.get("exclusions")
        if value is not None:
            if value.__class__ is not list or not all(
                    e.__class__ is str and e for e in value):
                return None
            exclusions = frozenset(value)
        value = member.get("birth_date")
        if value is not None:
            birth = _ORDINAL(value) if value.__class__ is str else None
            if birth is None:
                birth = read_ordinal(value)
                if birth is None:
                    return None
            if birth > end:
                return None
    authorizations = get("authorizations")
    if authorizations:
        authorizations = read_authorizations(authorizations)
        if authorizations is None:
            return None
    elif authorizations is not None and authorizations.__class__ is not list:
        return None
    coded_package = None
    if ndc is None:
        item = policy.products.get(product)  # type: ignore[arg-type]
    else:
        coded = policy.ndcs.get(ndc)
        if coded is None:
            item = policy.products.get(product)  # type: ignore[arg-type]
            if item is not None and item.lists_ndcs:
                return None
        elif product is not None and product != coded[0]:
            return None
        else:
            item = policy.products[coded[0]]
            coded_package = coded[1]
    if item is None:
        return None
    if package is None:
        package = coded_package
    elif package not in item.sizes or (coded_package is not None and package != coded_package):
        return None
    chosen = item.plans.get(channel)
    if chosen is None or _UNIT(unit, unit) != item.unit:
        return None
    if item.drug_file:
        return None  # sizes from the drug file count packages: `decide_claim` converts them
    history = get("history")
    if not item.therapy:
        if history:
            history = keep_history(history, claim_id, end, item, bool(authorizations))
            if history is None:
                return None
        elif history is not None and history.__class__ is not list:
            return None
        # The date was read from this text, so the text is its ISO form.
        return judge(policy, item, chosen, package, requested, days_supply, end,
                     end_text, birth, channel, history, authorizations)  # type: ignore[arg-type]
    # Therapy and daily-dose rules measure each prior fill's supply; exemptions and soft edits
    # read the member's exclusions and the claim's DUR/PPS codes.
    paid: list[Paid] = []
    history = keep_history(history, claim_id, end, item, bool(authorizations), paid)
    if history is None:
        return None
    measured = plan_supplies(paid, end, chosen)
    if measured[0].__class__ is int:
        return None  # a fill whose supply cannot be measured: `decide_claim` says which
    supplies, fills = measured
    return judge(policy, item, chosen, package, requested, days_supply, end,
                 end_text, birth, channel, history, authorizations, None,  # type: ignore[arg-type]
                 supplies, (fills, exclusions, dur_pps, []))  # type: ignore[arg-type]


@_named
class Policy(_NamedTuple):
    """What the decision code needs to know about the policy of a generated module."""

    id: str
    hash: str
    reject_code: str
    daily_rate: bool  # the policy declares the daily-rate check
    at: str  # the policy's spec line
    channels: tuple[str, ...]  # every channel it knows
    products: Mapping[str, Product]  # by product id
    ndcs: Mapping[str, tuple[str, str | None]]  # NDC → (product id, package id or None)
    criteria_at: Mapping[str, str]  # criterion id → its spec line
    validated: dict[str, object]  # the validate step (step_json)
    # A decision of this policy, every field None but its id and hash: `judge` fills a copy
    decided: dict[str, object]
    # Set when the registry routes claims here by their date of service (`in_force`): when
    # this version is in force in words, its spec line (for the trace's version step), and the
    # ordinal of the last day before it took effect (0: none), and the step to copy.
    version: tuple[str, str | None, int, dict[str, object]] | None


def in_force(policy: Policy, period: str, source: str | None, *, after: str | None = None,
             first: str | None = None) -> Callable[[dict], dict | None]:
    """`decide_plain` for the registry, which routes a claim to this version of its policy by
    its date of service: its decisions say in the trace which version decided and why, as
    `versions.version_step` would add it (docs/semantics.md §2.7). It declines (None) a claim
    dated on or before `after` (the last day of the version before it) or, when there is none,
    before `first` (ISO days): the registry tries the live version first and routes the claims
    it declines."""
    if after is not None:
        bound = date.fromisoformat(after).toordinal()
    elif first is not None:
        bound = date.fromisoformat(first).toordinal() - 1
    else:
        bound = 0
    step = version_json(BY_SERVICE, "", period, source)
    return policy._replace(  # type: ignore[attr-defined]
        version=(period, source, bound, step)).decide_plain


# Bound to its policy, `decide_plain` is a generated module's `evaluate_plain`
# (`_POLICY.decide_plain`): a claim's decision costs no call of a wrapper.
Policy.decide_plain = decide_plain  # type: ignore[attr-defined]


def policy(policy_id: str, policy_hash: str, reject_code: str, daily_rate: bool, at: str,
           channels: tuple[str, ...], products: Mapping[str, Product],
           ndcs: Mapping[str, tuple[str, str | None]],
           criteria_at: Mapping[str, str]) -> Policy:
    decided = dict.fromkeys(DECISION_FIELDS)
    decided["policy_id"], decided["policy_hash"] = policy_id, policy_hash
    return Policy(policy_id, policy_hash, reject_code, daily_rate, at, channels, products, ndcs,
                  criteria_at, step_json(validated_step(at)), decided, None)


def decide_claim(policy: Policy, claim: Claim) -> dict[str, object]:
    """The decision for a parsed claim (docs/semantics.md §2-§5): match its product, unit and
    channel, then `judge`. Generated modules decide here the claims that are not plain JSON,
    and the ones their plain reader leaves (no product or limit of theirs, malformed)."""
    requested, channel = milli(claim.quantity), claim.channel
    product, ndc, package = claim.product, claim.ndc, claim.package
    steps = [policy.validated]

    def refuse(text: str, detail: str, code: str = CODE_PRODUCT,
               source: str | None = policy.at) -> dict[str, object]:
        return refused(policy.id, policy.hash, steps, "match", code, text, detail, source,
                       channel, requested)

    def skip(step: str, detail: str) -> dict[str, object]:
        return skipped(policy.id, policy.hash, steps, (step, "skip", detail, policy.at), channel,
                       requested)

    coded = policy.ndcs.get(ndc) if ndc is not None else None
    if product is not None:
        item = policy.products.get(product)
        if item is None:
            if coded is None:
                return skip("match", f"no product of this policy is product {product}")
            return refuse("PRODUCT/NDC MISMATCH", f"ndc {ndc} is {coded[0]}, not {product}")
        if coded is not None and coded[0] != product:
            return refuse("PRODUCT/NDC MISMATCH", f"ndc {ndc} is {coded[0]}, not {product}")
        if coded is None and ndc is not None and item.lists_ndcs:
            return refuse("NDC NOT FOR PRODUCT", f"ndc {ndc} is not an NDC of {product}")
    elif coded is None:
        return skip("match", f"no product of this policy is ndc {ndc}")
    else:
        item = policy.products[coded[0]]
    coded_package = coded[1] if coded is not None else None
    if package is None:
        package = coded_package
    else:
        if package not in item.sizes:
            return refuse("UNKNOWN PACKAGE", f"package {package} is not a package of {item.id}")
        if coded_package is not None and package != coded_package:
            return refuse("PACKAGE/NDC MISMATCH",
                          f"ndc {ndc} is package {coded_package}, not {package}")
    if claim.unit != item.unit:
        return refuse(f"UNIT MUST BE {unit_message(item.unit)}",
                      f"unit {claim.unit} is not {item.unit}, the billing unit of {item.id}",
                      CODE_UNIT_MISMATCH, item.location)
    chosen = item.plans.get(channel)
    if chosen is None:
        if channel in policy.channels:
            steps.append(step_json(matched_step(item.id, channel, item.location)))
            return skip("select", f"no limit for {item.id} at {channel}")
        return refuse("UNKNOWN CHANNEL",
                      f"channel {channel} is not one of {', '.join(policy.channels)}",
                      CODE_CHANNEL)
    end = claim.date_of_service.toordinal()
    birth = None if claim.birth_date is None else claim.birth_date.toordinal()
    entries, size = claim.history, None
    if entries:
        billed = billed_history(entries, claim.claim_id, policy.products, policy.ndcs)
        if billed and billed[0].__class__ is int:
            steps.append(chosen.matched)
            index, entry, owner = billed
            text, detail = history_unit_texts(index, entry, owner.id, owner.unit)
            return refuse(text, detail, CODE_UNIT_MISMATCH, owner.location)
        entries = billed  # type: ignore[assignment]
    if item.drug_file:
        steps.append(chosen.matched)
        if claim.package_size is None:
            return refuse("PACKAGE SIZE NEEDED",
                          f"the package size of {item.id} comes from the drug file; the claim"
                          " has no package_size", source=item.location)
        size = milli(claim.package_size)
        sized = sized_history(entries, claim.claim_id, claim.ndc, item.scope, item.ndcs, size)
        if sized and sized[0].__class__ is int:
            text, detail = unsized_history_texts(sized[0], sized[1], item.id)
            return refuse(text, detail, CODE_RECORD, item.location)
        entries, chosen = sized, sized_plan(chosen, size)  # type: ignore[assignment]
    supplies: Sequence[tuple] | None = None
    fills: Sequence[tuple] = ()
    if chosen.therapy is not None or chosen.dose is not None:
        measured = plan_supplies(paid_fills(entries, claim.claim_id), end, chosen)
        if measured[0].__class__ is int:
            if not item.drug_file:
                steps.append(chosen.matched)
            index, source = measured
            text, detail = missing_supply_texts(index, entries[index - 1], source)
            return refuse(text, detail, CODE_RECORD, source)
        supplies, fills = measured  # type: ignore[assignment]
    history = keep_typed(entries, claim.claim_id, end, item, bool(claim.authorizations))
    return judge(policy, item, chosen, package, requested, claim.days_supply, end, day_text(end),
                 birth, channel, history, claim.authorizations, size, supplies,
                 (fills, claim.exclusions, claim.dur_pps, []))


def judge(policy: Policy, item: Product, chosen: Plan, package: str | None, requested: int,
          days_supply: int, end: int, end_text: str, birth: int | None, channel: str,
          history: Sequence[Kept] | None, authorizations: Sequence[Authorization] | None,
          package_size: int | None = None, supplies: Sequence[tuple] | None = None,
          member: Member | None = None) -> dict[str, object]:
    """docs/semantics.md §3-§5 for a claim matched to a product and channel: select the limits,
    apply authorizations, check every rule and decide.

    Quantities are thousandths and dates ordinals (`end` is the date of service, `end_text` the
    same date in ISO form); no history and no authorizations may be given as None.
    `package_size` is the claim's, for a product whose package size comes from the drug file;
    `supplies` the prior supply periods its therapy rules measure (`therapy_supplies`);
    `member` what its daily-dose and soft edits read (`checks.Member`).
    """
    history = history or ()
    # The decision's trace, its constant steps copied: a caller may change what it is given.
    version = policy.version
    if version is None:
        trace = [policy.validated.copy(), chosen.matched.copy()]
    else:  # texts.version_json, in a copy of this version's step (`in_force`)
        step = version[3].copy()
        step["detail"] = version_detail(BY_SERVICE, end_text, version[0])
        trace = [policy.validated.copy(), step, chosen.matched.copy()]
    if chosen.select is None:
        base = chosen.rules
        uncovered = chosen.not_covered
    else:
        picked = chosen.select(birth, package, end)
        if isinstance(picked, Refusal):
            return refused(policy.id, policy.hash, trace, "select", picked.code, picked.text,
                           picked.detail, picked.source, channel, requested)
        base = picked
        if not base:
            return skipped(policy.id, policy.hash, trace, (
                "select", "skip", f"no limit for {item.id} at {channel} applies to this claim",
                chosen.first_source), channel, requested)
        uncovered = next((r for r in base if r.kind == "not_covered"), None)
    if uncovered is not None:  # before authorizations: none can make it covered
        text, detail = not_covered_texts(item.id, channel)
        return refused(policy.id, policy.hash, trace, "select", CODE_NOT_COVERED, text,
                       detail, uncovered.source, channel, requested)
    if item.authorization is not None:
        holder = next((a for a in authorizations or ()
                       if _covers(a, item, channel, end, history)), None)
        if holder is None:
            text, detail = authorization_required_texts(item.id, channel, end_text)
            return refused(policy.id, policy.hash, trace, "authorize", CODE_PRIOR_AUTHORIZATION,
                           text, detail, item.authorization, channel, requested)
        trace.append(step_json(authorization_held_step(holder.id, item.id, item.authorization)))
    # Texts of quantities seen before are looked up, not made: most claims ask the same few.
    text_of = _MILLI_TEXT.get
    asked = text_of(requested) or milli_text(requested)
    checks: Sequence[Check] | None = None
    granting: Authorization | None = None
    if authorizations:
        granted = override(authorizations, trace, item, chosen, base, channel, requested,
                           asked, days_supply, end, end_text, history, policy.criteria_at,
                           policy.daily_rate, supplies, member)
        if granted is not None:
            checks, granting = granted
    if checks is None:
        r = chosen.lone
        if r is not None:
            # most plans: one rule, its one check (Plan.lone)
            trace.append(chosen.selected.copy())  # type: ignore[union-attr]
            checks = (CHECKS[r.kind](r, requested, asked, days_supply, end, end_text, history,
                                     item, supplies, member),)
        else:
            selected = chosen.selected
            trace.append(selected.copy() if selected is not None else step_json(
                select_step([r.text for r in base], None, base[0].source)))
            checks = check_rules(base, requested, asked, days_supply, end, end_text, history,
                                 policy.daily_rate, item, supplies, member)
    # The decision (docs/semantics.md §5): paid when every check passes, else the first failure
    # rejects; max allowed now is the tightest bound of any check.
    passed_by = None
    if len(checks) == 1:  # most plans hold one rule: no failure or bound to compare
        check = checks[0]
        trace.append(check[0])  # made for this claim by its check: the decision's own
        _, passed, allowed, prior, start, line, rule = check
        failed = None if passed else check
    else:
        failed = allowed = tightest = None
        for check in checks:
            trace.append(check[0])
            if not check[1] and failed is None:
                failed = check
            bound = check[2]
            if bound is not None and (allowed is None or bound < allowed):
                allowed, tightest = bound, check
        _, _, _, prior, start, line, rule = failed or tightest or checks[0]
        # A paid claim that passed soft edits by its DUR/PPS codes says so, a line each
        passed_by = [c[5] for c in checks if c[0]["step"] == "dur_override" and c[5] != line]
    source = rule.source
    if prior:
        total = prior + requested
        prior_text = text_of(prior) or milli_text(prior)
        total_text = text_of(total) or milli_text(total)
    else:
        prior_text, total_text = "0", asked
    unit = item.unit
    if allowed is None:
        allowed_text = packages = None
        suffix = ""
    else:
        allowed_text = text_of(allowed) or milli_text(allowed)
        if package_size is not None:
            size: int | None = package_size
        elif package is None:
            size = item.size
        else:
            size = item.sizes.get(package, item.size)
        packages = allowed // size if size else None
        suffix = f"; max allowed now {allowed_text} {unit}"
    # A check's line may hold several 526-FQ lines (a daily dose's), newline-separated.
    messages = [line] if line is None or "\n" not in line else line.split("\n")
    if failed is None:
        outcome = "paid"
        code = None
        if passed_by:
            messages += passed_by
        trace.append({"step": "decide", "result": "pass", "detail": "paid" + suffix,
                      "source": source})
    else:
        outcome = "rejected"
        code = rule.reject_code or policy.reject_code
        if allowed_text is not None:
            messages.append(_MAX_ALLOWED.get((allowed_text, unit))
                            or max_allowed_message(allowed_text, unit))
        trace.append({"step": "decide", "result": "fail",
                      "detail": f"rejected {code}: {rule.applied['text']} exceeded{suffix}",
                      "source": source})
    limit = rule.applied.copy()
    if granting is not None and limit["source"] == "override":
        # An approval of the policy's criteria is granted by the authorization: the decision
        # names it.
        limit["authorization_id"] = granting.id
    # Filled in a copy of the policy's decision (`Policy.decided`): copying a dict is cheaper
    # than building one of the same keys.
    decision = policy.decided.copy()
    decision["outcome"] = outcome
    decision["reject_code"] = code
    decision["messages"] = messages
    decision["channel"] = channel
    decision["limit"] = limit
    decision["window"] = None if start is None else {"start": start, "end": end_text}
    decision["prior_quantity"] = prior_text
    decision["requested_quantity"] = asked
    decision["total_quantity"] = total_text
    decision["max_allowed_quantity"] = allowed_text
    decision["max_allowed_packages"] = packages
    decision["trace"] = trace
    return decision


def refused(policy_id: str, policy_hash: str, steps: Sequence[dict], step: str, code: str,
            text: str, detail: str, source: str | None, channel: str,
            requested: int) -> dict[str, object]:
    """`rejected_input` for a well-formed claim this policy cannot use (match and select steps)."""
    trace = [s.copy() for s in steps]
    trace.append({"step": step, "result": "fail", "detail": detail, "source": source})
    trace.append({"step": "decide", "result": "fail", "detail": f"rejected {code}",
                  "source": source})
    return {"outcome": "rejected", "reject_code": code, "messages": [message(text)],
            "policy_id": policy_id, "policy_hash": policy_hash, "channel": channel, "limit": None,
            "window": None, "prior_quantity": None, "requested_quantity": milli_text(requested),
            "total_quantity": None, "max_allowed_quantity": None, "max_allowed_packages": None,
            "trace": trace}


def skipped(policy_id: str | None, policy_hash: str | None, steps: Sequence[dict], reason: Step,
            channel: str, requested: int) -> dict[str, object]:
    """`not_applicable` for a claim read into local values."""
    trace = [s.copy() for s in steps]
    trace.append({"step": reason[0], "result": reason[1], "detail": reason[2], "source": reason[3]})
    trace.append({"step": "decide", "result": "info", "detail": "not applicable",
                  "source": reason[3]})
    return {"outcome": "not_applicable", "reject_code": None, "messages": [],
            "policy_id": policy_id, "policy_hash": policy_hash, "channel": channel,
            "limit": None, "window": None, "prior_quantity": None,
            "requested_quantity": milli_text(requested), "total_quantity": None,
            "max_allowed_quantity": None, "max_allowed_packages": None, "trace": trace}
