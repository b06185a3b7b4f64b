"""Exception review: requests, answers, three-valued criteria, and the review of one policy."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal

from .claims import (
    Authorization,
    GrantedLimit,
    _as_data,
    _plain,
    _problem,
    _text_list,
    parse_authorization,
)
from .dates import approval_period
from .read import _text, read_date, read_days, read_number, read_quantity
from .texts import quantity_text, rule_text
from .values import UNIT_ALIASES, _record

# ---------------------------------------------------------------------------------------------
# Exception review (docs/semantics.md §6)


@_record(kw_only=True)
class RequestedLimit:
    """The limit an exception request asks for: what an `approve requested` criterion grants."""

    quantity: Decimal
    unit: str
    days: int | None = None  # None: per fill
    through: date | None = None  # the last day asked for, if the request says

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"quantity": _plain(self.quantity), "unit": self.unit,
                                  "days": self.days}
        if self.through is not None:
            out["through"] = _plain(self.through)
        return out


REQUESTED_FIELDS = ("quantity", "unit", "days", "through")


def parse_requested_limit(raw: object) -> RequestedLimit | str:
    """A request's `requested` limit, or why it cannot be read."""
    if isinstance(raw, RequestedLimit):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        return "requested is not an object with quantity, unit and days"
    unknown = [str(k) for k in raw if k not in REQUESTED_FIELDS]
    if unknown:
        return f"requested has unknown fields {', '.join(sorted(unknown))}"
    quantity = read_quantity(raw.get("quantity"))
    if quantity is None:
        return _problem("requested.quantity", raw.get("quantity"), "a decimal > 0")
    raw_unit = raw.get("unit")
    unit = UNIT_ALIASES.get(raw_unit) if type(raw_unit) is str else None
    if unit is None:
        return _problem("requested.unit", raw_unit, "g, mL or each")
    days = raw.get("days")
    if days is not None and read_days(days, 9999) is None:
        return _problem("requested.days", days, "a whole number of days (none: per fill)")
    through = raw.get("through")
    if through is not None:
        through = read_date(through)
        if through is None:
            return _problem("requested.through", raw.get("through"), "a date YYYY-MM-DD")
    return RequestedLimit(quantity=quantity, unit=unit, days=days, through=through)


@_record(kw_only=True)
class ReviewRequest:
    """An exception request: the answers to a policy's facts, for a product, on a date."""

    request_date: date
    facts: Mapping[str, object]
    policy: str | None = None
    product: str | None = None
    channels: tuple[str, ...] = ()
    prior_authorization: Authorization | None = None
    authorization_id: str | None = None
    requested: RequestedLimit | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"policy": self.policy, "product": self.product,
                               "request_date": _plain(self.request_date),
                               "facts": ({k: _plain(v) for k, v in self.facts.items()}
                                         if isinstance(self.facts, Mapping) else self.facts)}
        if self.channels:
            out["channels"] = list(self.channels)
        if self.prior_authorization is not None:
            out["prior_authorization"] = _as_data(self.prior_authorization)
        if self.authorization_id is not None:
            out["authorization_id"] = self.authorization_id
        if self.requested is not None:
            out["requested"] = self.requested.to_dict()
        return out


@_record()
class Problem:
    """An input a review could not use: a request field, or a fact answer."""

    field: str  # "request_date", "facts.severity", ...
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"field": self.field, "reason": self.reason}


@_record()
class Unmet:
    """A condition of a criterion that the answers do not satisfy."""

    criterion: str
    condition: str  # the condition as the spec writes it
    facts: tuple[str, ...]
    questions: tuple[str, ...]
    answers: tuple[object, ...]  # JSON data, as the request gave them

    def to_dict(self) -> dict[str, object]:
        return {"criterion": self.criterion, "condition": self.condition, "facts": list(self.facts),
                "questions": list(self.questions), "answers": list(self.answers)}


@_record()
class Missing:
    """A fact whose answer is missing (or unusable) and could change the outcome."""

    fact: str
    question: str
    criteria: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"fact": self.fact, "question": self.question, "criteria": list(self.criteria)}


@_record()
class ApprovedLimit:
    """One limit an approval grants: what the authorization's criterion puts in place."""

    target: str | None  # None: `approve requested` for a request that names no product
    channel: str | None  # None: every channel
    kind: str
    quantity: Decimal | None
    unit: str | None
    days: int | None
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"target": self.target, "channel": self.channel, "kind": self.kind,
                "quantity": None if self.quantity is None else quantity_text(self.quantity),
                "unit": self.unit, "days": self.days, "text": self.text}


@_record()
class ReviewResult:
    """The answer to an exception request (docs/semantics.md §8.3)."""

    outcome: str  # "approved", "denied" or "needs_information"
    policy_id: str | None
    policy_hash: str | None
    criterion: str | None
    authorization: Authorization | None
    approved: tuple[ApprovedLimit, ...]
    unmet: tuple[Unmet, ...]
    missing: tuple[Missing, ...]
    invalid: tuple[Problem, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "policy_id": self.policy_id,
            "policy_hash": self.policy_hash,
            "criterion": self.criterion,
            "authorization": None if self.authorization is None else self.authorization.to_dict(),
            "approved": [a.to_dict() for a in self.approved],
            "unmet": [u.to_dict() for u in self.unmet],
            "missing": [m.to_dict() for m in self.missing],
            "invalid": [p.to_dict() for p in self.invalid],
        }


def parse_review_request(data: object) -> tuple[ReviewRequest | None, tuple[Problem, ...]]:
    """A typed request and the problems found; the request is None when it cannot be used at all.

    A missing or unreadable `request_date` or `facts` makes the request unusable. Other problems
    (an unreadable `prior_authorization`, `channels`, `authorization_id` or `requested`) drop
    that field.
    """
    if isinstance(data, ReviewRequest):
        data = data.to_dict()
    if not isinstance(data, Mapping):
        return None, (Problem("request", f"the request is a {type(data).__name__}, not an object"),)
    problems: list[Problem] = []
    request_date = read_date(data.get("request_date"))
    if request_date is None:
        problems.append(Problem("request_date", _problem("request_date", data.get("request_date"),
                                                          "a date YYYY-MM-DD")))
    facts = data.get("facts")
    if facts is None:
        facts = {}
    if not isinstance(facts, Mapping) or not all(type(k) is str for k in facts):
        problems.append(Problem("facts", "facts is not an object of answers by fact id"))
        facts = None
    policy = data.get("policy")
    if policy is not None and _text(policy) is None:
        problems.append(Problem("policy", "policy is not a non-empty string"))
        policy = None
    product = data.get("product")
    if product is not None and _text(product) is None:
        problems.append(Problem("product", "product is not a non-empty string"))
        product = None
    channels: tuple[str, ...] = ()
    raw_channels = data.get("channels", data.get("channel"))
    if type(raw_channels) is str:
        raw_channels = [raw_channels]
    if raw_channels is not None:
        channels = _text_list(raw_channels) or ()
        if not channels:
            problems.append(Problem("channels", "channels is not a non-empty list of channel ids"))
    prior = None
    if data.get("prior_authorization") is not None:
        parsed = parse_authorization(data.get("prior_authorization"))
        if isinstance(parsed, str):
            problems.append(Problem("prior_authorization", parsed))
        else:
            prior = parsed
    authorization_id = data.get("authorization_id")
    if authorization_id is not None and _text(authorization_id) is None:
        problems.append(Problem("authorization_id", "authorization_id is not a non-empty string"))
        authorization_id = None
    requested = None
    if data.get("requested") is not None:
        read = parse_requested_limit(data.get("requested"))
        if isinstance(read, str):
            problems.append(Problem("requested", read))
        else:
            requested = read
    if request_date is None or facts is None:
        return None, tuple(problems)
    request = ReviewRequest(request_date=request_date, facts=dict(facts), policy=policy,
                            product=product, channels=channels, prior_authorization=prior,
                            authorization_id=authorization_id, requested=requested)
    return request, tuple(problems)


def read_answer(fact_type: str, values: Sequence[str], raw: object) -> tuple[object, str | None]:
    """A fact answer as (value, None), or (None, why it is unusable); None raw means unanswered."""
    if fact_type == "bool":
        return (raw, None) if type(raw) is bool else (None, "expected true or false")
    if fact_type == "enum":
        if type(raw) is str and raw in values:
            return raw, None
        return None, f"expected one of {', '.join(values)}"
    if fact_type == "set":
        if isinstance(raw, (list, tuple, set, frozenset)) and all(
                type(item) is str and item in values for item in raw):
            return frozenset(raw), None
        return None, f"expected a list of {', '.join(values)}"
    if fact_type == "number":
        number = read_number(raw)
        return (number, None) if number is not None else (None, "expected a number")
    parsed = read_date(raw)
    return (parsed, None) if parsed is not None else (None, "expected a date YYYY-MM-DD")


def answer_data(value: object) -> object:
    """An answer as JSON data for a result: sets sorted, decimals and dates as text."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (list, tuple)):
        return [answer_data(v) for v in value]
    if type(value) is Decimal or type(value) is date:
        return _plain(value)
    return value


# Three-valued logic for criteria. A node is (truth, unmet, missing): truth is True, False or
# None (unknown); `unmet` names the leaves that make a False node false and `missing` the
# leaves whose unknown answers leave a None node undecided. Leaves are opaque to these helpers.

Node = tuple


def leaf(truth: bool | None, label: object) -> Node:
    if truth is None:
        return (None, (), (label,))
    return (truth, () if truth else (label,), ())


def all_of(*nodes: Node) -> Node:
    if any(node[0] is False for node in nodes):
        return (False, tuple(x for node in nodes if node[0] is False for x in node[1]), ())
    if any(node[0] is None for node in nodes):
        return (None, (), tuple(x for node in nodes if node[0] is None for x in node[2]))
    return (True, (), ())


def any_of(*nodes: Node) -> Node:
    if any(node[0] is True for node in nodes):
        return (True, (), ())
    if any(node[0] is None for node in nodes):
        return (None, (), tuple(x for node in nodes if node[0] is None for x in node[2]))
    return (False, tuple(x for node in nodes for x in node[1]), ())


def negation(node: Node, label: object) -> Node:
    """`not X`: when X holds, the unmet condition is the negation as a whole."""
    truth = node[0]
    if truth is None:
        return (None, (), node[2])
    return (not truth, (label,) if truth else (), ())


def review_verdict(criteria: Sequence[tuple[str, Node]], questions: Mapping[str, str],
                   shown: Mapping[str, object]
                   ) -> tuple[str, str | None, tuple[Unmet, ...], tuple[Missing, ...]]:
    """(outcome, criterion, unmet, missing) from each criterion's three-valued node, in spec order.

    The first criterion that holds approves. Otherwise, if any criterion is undecided, the
    outcome is needs_information and `missing` names the unanswered facts that could still make
    one hold. Otherwise the request is denied and `unmet` lists, criterion by criterion, each
    condition that failed. Leaf labels are (condition text, fact ids); `shown` holds the answers
    as the request gave them.
    """
    for criterion_id, node in criteria:
        if node[0] is True:
            return "approved", criterion_id, (), ()
    wanted: dict[str, list[str]] = {}
    for criterion_id, node in criteria:
        if node[0] is None:
            for _, facts in node[2]:
                for fact in facts:
                    named = wanted.setdefault(fact, [])
                    if criterion_id not in named:
                        named.append(criterion_id)
    if wanted:
        missing = tuple(Missing(fact, questions.get(fact, ""), tuple(named))
                        for fact, named in wanted.items())
        return "needs_information", None, (), missing
    unmet = tuple(
        Unmet(criterion_id, condition, facts, tuple(questions.get(f, "") for f in facts),
              tuple(answer_data(shown.get(f)) for f in facts))
        for criterion_id, node in criteria for condition, facts in node[1])
    return "denied", None, unmet, ()


def review_refused(problems: Sequence[Problem], policy_id: str | None,
                   policy_hash: str | None, missing: Sequence[Missing] = ()) -> ReviewResult:
    """A request that cannot be decided as sent: what to fix, and what else is still unanswered."""
    return ReviewResult("needs_information", policy_id, policy_hash, None, None, (), (),
                        tuple(missing), tuple(problems))


PRIOR_AUTHORIZATION = "prior_authorization"  # the pseudo-fact a renewal criterion depends on


RENEWAL_QUESTION = "Is there an earlier authorization under the criterion being renewed?"


def renewal_condition(renews: str) -> str:
    return f"an earlier authorization under {renews}"


# `approve requested a, b`: a request for another product is not tried under the criterion; when
# no criterion is tried, the condition it failed is the product, a pseudo-fact with this question.
PRODUCT = "product"
PRODUCT_QUESTION = "Which product is the request for?"


def requested_for_condition(targets: Sequence[str]) -> str:
    """`a request for a`, `a request for a or b`, `a request for a, b or c`."""
    named = list(targets)
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
    return f"a request for {listed}"


# `for initial requests` / `for renewal requests`: which requests a criterion serves. A renewal
# request brings an earlier authorization for the product; the question and condition texts
# explain an undecided one (an unreadable `prior_authorization`).
EARLIER_QUESTION = "Is there an earlier authorization for the product?"
SERVES_CONDITION = {"initial": "an initial request (no earlier authorization for the product)",
                    "renewal": "a renewal request (an earlier authorization for the product)"}


def authorization_id_for(policy_id: str, criterion: str, product: str | None, start: date) -> str:
    """A deterministic id for an approval, when the request does not bring its own."""
    return f"{policy_id}/{criterion}/{product or 'all'}/{start.isoformat()}"


# ---------------------------------------------------------------------------------------------
# Review of a request against one policy. The evaluators differ in how a criterion's condition
# is computed (`ReviewCriterion.when`: a walk of the IR, or a generated function); the rest —
# checking the request, choosing the outcome, writing the authorization — is this one function.


@_record()
class ReviewCriterion:
    """What a review needs to know about one criterion of a policy."""

    id: str
    when: Callable[[Mapping[str, object]], Node]  # answers by fact id → three-valued node
    renews: str | None
    approves: tuple[ApprovedLimit, ...]
    # (kind, amount, unit) in force for this criterion; None only for `approve requested` with
    # no duration in the spec: the request's `requested.through` ends the approval
    duration: tuple[str, int, str | None] | None
    requested: bool = False  # `approve requested`: it grants the request's `requested` limit
    serves: str | None = None  # "initial" or "renewal": the only requests it is tried for
    # `approve requested a, b`: the products or groups it serves; empty: every product
    requested_for: tuple[str, ...] = ()


def review_policy(request: object, *, policy_id: str, policy_hash: str,
                  facts: Mapping[str, tuple[str, tuple[str, ...], str]], channels: Sequence[str],
                  targets: Mapping[str, tuple[str, ...]],
                  criteria: Sequence[ReviewCriterion],
                  units: Mapping[str, str] | None = None,
                  routed: tuple[tuple[str, ...], str | None] | None = None) -> ReviewResult:
    """Decide an exception request; never raises on request data.

    `facts` maps each fact id to (type, values, question); `targets` maps every name a request
    may use for a product (its id, a group id, an NDC) to (the product or group id, then the
    group it accumulates in, if any); `channels` are the channels the policy knows; `units`
    maps a product or group id to the one billing unit its limits count in. `routed` is set
    when this is the fallback guideline and the registry sent it a request for another policy's
    product: that product's (product or group id, its group) and billing unit.
    """
    parsed, problems = parse_review_request(request)
    if parsed is None:
        return review_refused(problems, policy_id, policy_hash)
    prior_broken = any(p.field == PRIOR_AUTHORIZATION for p in problems)
    blocking = [p for p in problems if p.field != PRIOR_AUTHORIZATION]
    if parsed.policy is not None and parsed.policy != policy_id:
        blocking.append(Problem("policy", f"this is policy {policy_id}, not {parsed.policy}"))
    related: tuple[str, ...] = ()
    if parsed.product is not None:
        related = targets.get(parsed.product, ())
        if not related and routed is not None:
            related = routed[0]
            if routed[1] is not None:
                units = {**(units or {}), related[0]: routed[1]}
        if not related:
            blocking.append(Problem("product", f"{parsed.product} is not a product of this policy"))
    for channel in parsed.channels:
        if channel not in channels:
            blocking.append(Problem("channels", f"{channel} is not one of {', '.join(channels)}"))

    answers: dict[str, object] = {}
    invalid: list[Problem] = []
    for fact_id, raw in parsed.facts.items():
        fact = facts.get(fact_id)
        if fact is None:
            invalid.append(Problem(f"facts.{fact_id}", "not a fact of this policy"))
        elif raw is not None:
            value, why = read_answer(fact[0], fact[1], raw)
            if why is None:
                answers[fact_id] = value
            else:
                invalid.append(Problem(f"facts.{fact_id}", why))
    questions = {fact_id: fact[2] for fact_id, fact in facts.items()}
    shown = {k: v for k, v in parsed.facts.items() if k in facts}
    if parsed.prior_authorization is not None:
        shown[PRIOR_AUTHORIZATION] = parsed.prior_authorization.id

    # None: cannot tell (the prior authorization is unreadable)
    renewal = None if prior_broken else _earlier_authorization(parsed, related)
    outcomes = []
    # criteria not tried: (criterion, the condition it fails) for one that serves only the other
    # kind of request, or approves the quantity requested for other products only
    passed_over: list[tuple[ReviewCriterion, tuple[str, tuple[str, ...]]]] = []
    for criterion in criteria:
        if related and not criterion.requested and not any(a.target in related
                                                           for a in criterion.approves):
            continue  # it approves nothing for the requested product
        if related and criterion.requested_for and not any(t in related
                                                           for t in criterion.requested_for):
            passed_over.append((criterion, (requested_for_condition(criterion.requested_for),
                                            (PRODUCT,))))
            continue  # not tried for this product
        if criterion.serves is not None and renewal is not None \
                and (criterion.serves == "renewal") is not renewal:
            passed_over.append((criterion, (SERVES_CONDITION[criterion.serves],
                                            (PRIOR_AUTHORIZATION,))))
            continue  # not tried for this kind of request
        node = criterion.when(answers)
        if criterion.serves is not None and renewal is None:
            questions.setdefault(PRIOR_AUTHORIZATION, EARLIER_QUESTION)
            node = all_of(leaf(None, (SERVES_CONDITION[criterion.serves],
                                      (PRIOR_AUTHORIZATION,))), node)
        if criterion.renews is not None:
            questions[PRIOR_AUTHORIZATION] = RENEWAL_QUESTION
            eligible = None if prior_broken else _renewable(criterion, parsed, related)
            condition = (renewal_condition(criterion.renews), (PRIOR_AUTHORIZATION,))
            node = all_of(leaf(eligible, condition), node)
        outcomes.append((criterion.id, node))
    if not outcomes and passed_over:  # no criterion serves this request
        for _, (_, facts_of) in passed_over:
            if facts_of == (PRODUCT,):
                questions[PRODUCT] = PRODUCT_QUESTION
                shown[PRODUCT] = parsed.product
            else:
                questions[PRIOR_AUTHORIZATION] = EARLIER_QUESTION
        outcomes = [(c.id, leaf(False, condition)) for c, condition in passed_over]
    outcome, chosen, unmet, missing = review_verdict(outcomes, questions, shown)
    listed = tuple([p for p in problems if p.field == PRIOR_AUTHORIZATION] + blocking + invalid)
    if blocking:
        return review_refused(listed, policy_id, policy_hash, missing)
    if outcome != "approved":
        return ReviewResult(outcome, policy_id, policy_hash, None, None, (), unmet, missing, listed)
    criterion = next(c for c in criteria if c.id == chosen)
    target = related[0] if related else None
    granted: tuple[GrantedLimit, ...] = ()
    if criterion.requested:
        asked = _requested_problems(criterion, parsed, target, units or {})
        if asked:
            return review_refused(listed + asked, policy_id, policy_hash)
        limit: RequestedLimit = parsed.requested  # type: ignore[assignment]
        duration = _requested_duration(criterion.duration, limit)
        if duration is None:
            through, max_fills = limit.through, None
        else:
            through, max_fills = approval_period(parsed.request_date, *duration)
            if limit.through is not None and limit.through < through:
                through = limit.through
        kind = "per_fill" if limit.days is None else "per_window"
        text = rule_text(kind, limit.quantity, limit.unit, limit.days)
        approved = tuple(ApprovedLimit(target, channel, kind, limit.quantity, limit.unit,
                                       limit.days, text) for channel in parsed.channels)
        granted = tuple(GrantedLimit(channel=channel, quantity=limit.quantity, unit=limit.unit,
                                     days=limit.days) for channel in parsed.channels)
    else:
        through, max_fills = approval_period(parsed.request_date, *criterion.duration)  # type: ignore[misc]
        approved = tuple(a for a in criterion.approves
                         if (not related or a.target in related)
                         and (not parsed.channels or a.channel is None
                              or a.channel in parsed.channels))
    products = ((target,) if target is not None
                else tuple(dict.fromkeys([a.target for a in criterion.approves]
                                         + list(criterion.requested_for))))
    authorization = Authorization(
        id=parsed.authorization_id or authorization_id_for(policy_id, criterion.id, target,
                                                           parsed.request_date),
        products=products, effective_from=parsed.request_date, effective_through=through,  # type: ignore[arg-type]
        criterion=criterion.id, channels=parsed.channels, max_fills=max_fills, limits=granted)
    return ReviewResult("approved", policy_id, policy_hash, criterion.id, authorization, approved,
                        (), (), listed)


def _requested_duration(duration: tuple[str, int, str | None] | None,
                        limit: RequestedLimit) -> tuple[str, int, str | None] | None:
    """The stated duration an `approve requested` approval runs for; None: it ends on the
    request's `requested.through`. `as requested` always ends there; `one time or as requested`
    does when the request gives the date, and is one fill when it does not."""
    if duration is None or duration[0] == "as_requested":
        return None
    if duration[0] == "one_time_or_requested":
        return None if limit.through is not None else ("one_time", duration[1], duration[2])
    return duration


def _requested_problems(criterion: ReviewCriterion, request: ReviewRequest, target: str | None,
                        units: Mapping[str, str]) -> tuple[Problem, ...]:
    """What an approval under an `approve requested` criterion still needs from the request."""
    found = []
    limit = request.requested
    if limit is None:
        found.append(Problem("requested", f"criterion {criterion.id} approves the quantity "
                             "requested; give requested: quantity, unit and days (none: per fill)"))
    if not request.channels:
        found.append(Problem("channels", f"criterion {criterion.id} approves the quantity "
                             "requested at the channels the request names; give channels"))
    if limit is None:
        return tuple(found)
    billed = units.get(target) if target is not None else None
    if billed is not None and limit.unit != billed:
        found.append(Problem("requested.unit", f"{target} is billed in {billed}, not {limit.unit}"))
    if limit.through is not None and limit.through < request.request_date:
        found.append(Problem("requested.through", "requested.through is before the request date"))
    elif limit.through is None and criterion.duration is None:
        found.append(Problem("requested.through", "the policy states no approval duration; give "
                             "the last day the request asks for"))
    elif (limit.through is None and criterion.duration is not None
          and criterion.duration[0] == "as_requested"):
        found.append(Problem("requested.through", f"approvals under criterion {criterion.id} "
                             "last as requested; give the last day the request asks for"))
    return tuple(found)


def _renewable(criterion: ReviewCriterion, request: ReviewRequest,
               related: tuple[str, ...]) -> bool:
    """Whether the request's prior authorization is one this renewal criterion may renew."""
    prior = request.prior_authorization
    if prior is None or prior.criterion not in (criterion.renews, criterion.id):
        return False
    return _earlier_authorization(request, related)


def _earlier_authorization(request: ReviewRequest, related: tuple[str, ...]) -> bool:
    """Whether the request is a renewal request: its prior authorization covers the product (or
    its group, or any product when the request names none) and began on or before the request
    date. Its criterion, dates of end and status do not matter: it was granted."""
    prior = request.prior_authorization
    if prior is None or prior.effective_from > request.request_date:
        return False
    return not related or any(name in related for name in prior.products)
