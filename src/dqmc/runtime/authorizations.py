"""Authorizations on a claim: which one covers it, and the limits it grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .checks import Check, Member, check_rules
from .claims import Authorization, parse_authorization
from .history import Kept
from .tables import Plan, Product, Rule, rule, step_json
from .texts import authorization_step, quantity_text, select_step


def read_authorizations(raw: object) -> tuple[Authorization, ...] | None:
    """A claim's JSON `authorizations`, each read by parse_authorization; None when any is bad."""
    if raw is None:
        return ()
    if raw.__class__ is not list:
        return None
    found = []
    for record in raw:
        authorization = parse_authorization(record)
        if authorization.__class__ is not Authorization:
            return None
        found.append(authorization)
    return tuple(found)


def override(authorizations: Sequence[Authorization], steps: list[dict], item: Product,
             chosen: Plan, base: Sequence[Rule], channel: str, requested: int, asked: str,
             days_supply: int, end: int, end_text: str, history: Sequence[Kept],
             criteria_at: Mapping[str, str], daily_rate: bool,
             supplies: Sequence[tuple] | None = None, member: Member | None = None
             ) -> tuple[list[Check], Authorization] | None:
    """The checks under the most generous authorization that applies, and that authorization;
    None when none does. The rules an approval of the policy's criteria grants are its own
    (`limit.authorization_id` is None): the decision names the authorization.

    Records an `authorize` step for every authorization that covers the product and, when one
    applies, the `select` step naming it. Hard base limits hold under every authorization; of
    several that apply, the one under which the claim pays wins, then the larger max allowed
    now (no quantity bound counts as largest), then the earlier in the claim's list.
    """
    hard = chosen.hard if base is chosen.rules else tuple(r for r in base if r.hard)
    # (its rank, or None while it is the only one; the authorization; its rules' texts; checks)
    best: tuple[tuple[bool, bool, int] | None, Authorization, str, list[Check]] | None = None
    for authorization in authorizations:
        if item.cover.isdisjoint(authorization.products):
            continue
        rules, said, source = _granted(authorization, item, chosen, channel, end, history,
                                       criteria_at, daily_rate)
        if rules is None:
            steps.append(step_json(authorization_step(authorization, False, said, source)))
            continue
        steps.append(step_json(authorization_step(authorization, True, "applies: " + said,
                                                  source)))
        if hard:  # the select step lists them, the authorize step does not
            rules += hard
            said = "; ".join(r.text for r in rules)
        checks = check_rules(rules, requested, asked, days_supply, end, end_text, history,
                             daily_rate, item, supplies, member)
        if best is None:
            best = (None, authorization, said, checks)  # ranked only if another one applies
            continue
        rank = best[0]
        if rank is None:
            rank = _rank(best[3])
            best = (rank, best[1], best[2], best[3])
        key = _rank(checks)
        if key > rank:  # strictly better: ties stay with the earlier one
            best = (key, authorization, said, checks)
    if best is None:
        return None
    _, authorization, said, checks = best
    steps.append(step_json(select_step((said,), authorization,
                                       criteria_at.get(authorization.criterion))))  # type: ignore[arg-type]
    return checks, authorization


def _rank(checks: Sequence[Check]) -> tuple[bool, bool, int]:
    """How generous an authorization's checks are: paid first, then the larger max allowed now
    (no quantity bound counts as largest)."""
    bounds = [c[2] for c in checks if c[2] is not None]
    return all(c[1] for c in checks), not bounds, min(bounds) if bounds else 0


def _covers(authorization: Authorization, item: Product, channel: str, end: int,
            history: Sequence[Kept]) -> bool:
    """Whether an authorization meets a prior authorization requirement: it names the product
    (or its group or NDC), is active on the date of service at this channel and has fills left.
    It need not come from this policy's criteria nor grant limits here (a payer's PA program may
    sit outside its quantity-limit policy): then the base limits apply."""
    if item.cover.isdisjoint(authorization.products) or authorization.status == "revoked":
        return False
    first = authorization.effective_from.toordinal()
    last = authorization.effective_through.toordinal()
    if not first <= end <= last:
        return False
    if authorization.channels and channel not in authorization.channels:
        return False
    if authorization.max_fills is not None:
        scope, ndcs = item.scope, item.ndcs
        used = sum(1 for day, _, named, ndc in history
                   if first <= day <= last and (named in scope or ndc in ndcs))
        if used >= authorization.max_fills:
            return False
    return True


def _granted(authorization: Authorization, item: Product, chosen: Plan, channel: str, end: int,
             history: Sequence[Kept], criteria_at: Mapping[str, str],
             daily_rate: bool) -> tuple[tuple[Rule, ...] | None, str, str | None]:
    """(the rules an authorization grants here, their texts as steps list them, the spec line
    behind it), or (None, why not, the spec line)."""
    criterion = authorization.criterion
    source = criteria_at.get(criterion)  # type: ignore[arg-type]
    if authorization.status == "revoked":
        return None, "revoked", source
    first, last = authorization.effective_from, authorization.effective_through
    if end < first.toordinal():
        return None, f"not effective until {first.isoformat()}", source
    if end > last.toordinal():
        return None, f"expired on {last.isoformat()}", source
    if authorization.channels and channel not in authorization.channels:
        return None, f"not for channel {channel}", source
    if authorization.limits:
        granted = next((g for g in authorization.limits if g.channel == channel), None)
        if granted is None:
            return None, f"grants no limit at {channel}", source
        if granted.unit != item.unit:
            return None, f"grants {granted.unit}, but {item.id} is billed in {item.unit}", source
        rules: tuple[Rule, ...] = (rule(
            "per_fill" if granted.days is None else "per_window", quantity_text(granted.quantity),
            item.unit, granted.days, None, None, item.scope, item.ndcs, source,
            daily_rate=daily_rate, origin="override", authorization_id=authorization.id),)
    else:
        if source is None:
            return None, f"criterion {criterion} is not in this policy", source
        approved = chosen.approvals.get(criterion)  # type: ignore[arg-type]
        if approved is None:
            why = f"criterion {criterion} approves nothing for {item.id} at {channel}"
            return None, why, source
        rules = approved
    if authorization.max_fills is not None:
        first_day, last_day = first.toordinal(), last.toordinal()
        scope, ndcs = item.scope, item.ndcs
        used = sum(1 for day, _, named, ndc in history
                   if first_day <= day <= last_day and (named in scope or ndc in ndcs))
        if used >= authorization.max_fills:
            return None, f"used {used} of {authorization.max_fills} fills", source
    if authorization.limits:
        return rules, rules[0].text, source
    return rules, chosen.approved_texts[criterion], source  # type: ignore[index]
