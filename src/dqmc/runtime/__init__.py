"""Standard-library runtime of the DQM evaluators: typed claims, parsing, decisions as JSON."""

# This package is copied verbatim into every generated package as `dqm_policies/_runtime/`, so it
# imports nothing outside the standard library and its modules import each other relatively. The IR
# interpreter (`dqmc.interpreter`) and the generated policy modules share it: it owns everything
# that does not depend on a policy's rules — reading claims and review requests, the reject codes of
# malformed input, the wording of messages and trace steps, how a set of rule checks becomes one
# decision, and the bookkeeping of reviews. The rules themselves (which limits apply, what counts in
# a window, which authorization wins) are decided by each evaluator: the interpreter walking the IR,
# generated modules through `decide`, which reads plain-JSON claims into values (`decide_plain`) and
# decides them over the modules' constant tables (`tables`). docs/semantics.md states the semantics
# both implement.
#
# Imports are few and light on purpose: a service's first decision pays for them (cold start).
# `dataclasses` (which imports inspect and ast), `typing`, `re` and `calendar` are each more
# than the rest of the runtime takes to load, so value classes come from `values._record`,
# texts are checked with str methods, and month lengths are computed in `dates`.
#
# Modules, each importing only those before it: values, read, texts, claims, dates, decisions,
# review, tables, history, checks, authorizations, decide, versions. Evaluators use the names
# below as `rt.NAME`; they are one flat namespace on purpose, so a name can move between modules
# without touching a generated policy module.

from __future__ import annotations

from .authorizations import (
    override,
    read_authorizations,
)
from .checks import (
    Check,
    Member,
    check_rules,
)
from .claims import (
    Authorization,
    Claim,
    GrantedLimit,
    HistoryEntry,
    Rejection,
    parse_authorization,
    parse_claim,
    parse_history_entry,
    read_dur_pps,
)
from .dates import (
    age_on,
    approval_period,
    approval_through,
    window_start,
)
from .decide import (
    Policy,
    decide_claim,
    decide_plain,
    in_force,
    judge,
    policy,
    refused,
    skipped,
)
from .decisions import (
    AppliedLimit,
    Decision,
    RuleCheck,
    TraceStep,
    conclude,
    not_applicable,
    rejected_input,
)
from .history import (
    Kept,
    billed_history,
    dose_fills,
    history_unit_texts,
    keep_history,
    keep_typed,
    therapy_supplies,
)
from .read import (
    MILLI,
    ORDINAL,
    day_text,
    milli,
    milli_text,
    read_date,
    read_days,
    read_milli,
    read_ndc,
    read_number,
    read_ordinal,
    read_quantity,
)
from .review import (
    EARLIER_QUESTION,
    PRIOR_AUTHORIZATION,
    RENEWAL_QUESTION,
    REQUESTED_FIELDS,
    SERVES_CONDITION,
    ApprovedLimit,
    Missing,
    Node,
    Problem,
    RequestedLimit,
    ReviewCriterion,
    ReviewRequest,
    ReviewResult,
    Unmet,
    all_of,
    answer_data,
    any_of,
    authorization_id_for,
    leaf,
    negation,
    parse_requested_limit,
    parse_review_request,
    read_answer,
    renewal_condition,
    review_policy,
    review_refused,
    review_verdict,
)
from .tables import (
    Plan,
    Product,
    Refusal,
    Rule,
    age_between,
    package_count_note,
    plan,
    product,
    rule,
    sized_history,
    sized_history_amount,
    sized_plan,
    sized_rule,
    step_json,
    unsized_history_texts,
    with_history,
)
from .texts import (
    DOSE_KINDS,
    authorization_held_step,
    authorization_required_texts,
    authorization_step,
    daily_rate_allowed,
    daily_rate_detail,
    daily_rate_message,
    days_supply_detail,
    dose_detail,
    dose_lines,
    dose_share,
    dose_text,
    dur_codes_text,
    dur_match,
    fills_detail,
    first_fill_detail,
    matched_step,
    message,
    missing_supply_texts,
    not_covered_texts,
    per_day_detail,
    per_fill_detail,
    quantity_text,
    rule_message,
    rule_text,
    select_step,
    therapy_detail,
    therapy_history_days,
    unit_message,
    validated_step,
    window_detail,
)
from .values import (
    CODE_BIRTH_DATE,
    CODE_CHANNEL,
    CODE_DATE_OF_SERVICE,
    CODE_DAYS_SUPPLY,
    CODE_NOT_COVERED,
    CODE_PRIOR_AUTHORIZATION,
    CODE_PRODUCT,
    CODE_QUANTITY,
    CODE_RECORD,
    CODE_UNIT_MISMATCH,
    CODE_UNIT_MISSING,
    DEFAULT_ONE_TIME_DAYS,
    MAX_DAYS_SUPPLY,
    MAX_QUANTITY,
    MESSAGE_WIDTH,
    UNIT_ALIASES,
    ZERO,
    Step,
    evaluation_context,
)
from .versions import (
    BY_AS_OF,
    BY_REQUEST,
    BY_SERVICE,
    before_first_version,
    period_text,
    request_day,
    review_before_first_version,
    version_index,
    version_step,
)
