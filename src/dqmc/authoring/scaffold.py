"""`dqmc new POLICY-ID [--dsl|--yaml]`: a starter spec and its tests file that check and pass."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from dqmc.lang.grammars import POLICY_SCHEMA
from dqmc.lang.ir.check import id_problem

DEFAULT_FOLDER = "policy_specs"


_DSL = '''\
# {policy_id}: a Drug Quantity Management policy. The product, limits, fact and criterion
# below are an example: replace them with the policy's own, then run `dqmc check` and
# `dqmc test` (the cases in {tests_name} exercise every rule and branch).
policy {policy_id} "{title}" {{
  type per_days
  review_date {today}
  approvals last 1 year

  product {product} {{
    brand "Example"
    generic "examplamab"
    strength "10 mg"
    form "tablet"
    package bottle-30 30 each "bottle of 30 tablets" as bottle
  }}

  limit {product} {{
    retail        30 tablets per 30 days
    home_delivery 90 tablets per 90 days
  }}

  fact needs_more: bool "Does the patient need more than the quantity limit allows?"

  criterion additional-quantity "Additional quantity when the prescriber documents the need" {{
    when needs_more
    approve {product} {{
      retail        60 tablets per 30 days
      home_delivery 180 tablets per 90 days
    }}
  }}

  section overview "Overview" "What the drug treats and why its quantity is managed."

  revision {today} "New Policy" "Policy created."
}}
'''

_YAML = '''\
# yaml-language-server: $schema={schema}
# {policy_id}: a Drug Quantity Management policy. The product, limits, fact and criterion
# below are an example: replace them with the policy's own, then run `dqmc check` and
# `dqmc test` (the cases in {tests_name} exercise every rule and branch).
policy:
  id: {policy_id}
  title: "{title}"
  type: per_days
  review_date: {today}
  approval_duration: 1 year

products:
  {product}:
    brand: Example
    generic: examplamab
    strength: 10 mg
    form: tablet
    packages:
      bottle-30: {{size: 30 each, description: bottle of 30 tablets, noun: bottle}}

limits:
  {product}:
    retail: 30 tablets per 30 days
    home_delivery: 90 tablets per 90 days

facts:
  needs_more:
    type: bool
    question: Does the patient need more than the quantity limit allows?

criteria:
  additional-quantity:
    title: Additional quantity when the prescriber documents the need
    when: needs_more
    approve:
      {product}:
        retail: 60 tablets per 30 days
        home_delivery: 180 tablets per 90 days

sections:
  - kind: overview
    title: Overview
    text: What the drug treats and why its quantity is managed.

history:
  - date: {today}
    type: New Policy
    summary: Policy created.
'''

# Claims dated inside the authorization below; every case names what it checks.
_TESTS = '''\
# Policy tests for {spec_name}: `dqmc test` runs each case on the generated evaluator and the
# interpreter. `expect` is partial: only the fields it names are compared.
cases:
  - name: retail at the limit pays
    claim: {{claim_id: c-1, date_of_service: 2026-03-01, product: {product}, quantity: "30",
            unit: each, days_supply: 30, channel: retail}}
    expect: {{outcome: paid, max_allowed_quantity: "30"}}
  - name: retail above the limit is rejected
    claim: {{claim_id: c-2, date_of_service: 2026-03-01, product: {product}, quantity: "60",
            unit: each, days_supply: 30, channel: retail}}
    expect: {{outcome: rejected, reject_code: "76"}}
  - name: home delivery at the limit pays
    claim: {{claim_id: c-3, date_of_service: 2026-03-01, product: {product}, quantity: "90",
            unit: each, days_supply: 90, channel: home_delivery}}
    expect: {{outcome: paid}}
  - name: an approved exception pays more at retail
    claim: {{claim_id: c-4, date_of_service: 2026-03-01, product: {product}, quantity: "60",
            unit: each, days_supply: 30, channel: retail,
            authorizations: [{{id: pa-1, criterion: additional-quantity, products: [{product}],
                              effective_from: 2026-01-15, effective_through: 2027-01-14}}]}}
    expect: {{outcome: paid, limit: {{source: override}}}}
  - name: an approved exception pays more at home delivery
    claim: {{claim_id: c-5, date_of_service: 2026-03-01, product: {product}, quantity: "180",
            unit: each, days_supply: 90, channel: home_delivery,
            authorizations: [{{id: pa-1, criterion: additional-quantity, products: [{product}],
                              effective_from: 2026-01-15, effective_through: 2027-01-14}}]}}
    expect: {{outcome: paid, limit: {{source: override}}}}
  - name: a documented need is approved
    review: {{product: {product}, request_date: 2026-01-15, facts: {{needs_more: true}}}}
    expect: {{outcome: approved, criterion: additional-quantity}}
  - name: no documented need is denied
    review: {{product: {product}, request_date: 2026-01-15, facts: {{needs_more: false}}}}
    expect: {{outcome: denied}}
  - name: an unanswered question needs information
    review: {{product: {product}, request_date: 2026-01-15, facts: {{}}}}
    expect: {{outcome: needs_information}}
'''


class ScaffoldError(Exception):
    """The spec cannot be created as asked (exit 2)."""


def title_for(policy_id: str) -> str:
    words = policy_id.removesuffix("-dqm").replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words) + " Drug Quantity Management Policy"


def product_for(policy_id: str) -> str:
    # Unique per policy, so two starters in one folder do not cover the same product.
    return policy_id.removesuffix("-dqm") + "-tablet"


def schema_reference(folder: Path) -> str:
    """The modeline's schema path, relative to the spec's folder as YAML editors resolve it."""
    try:
        return Path(os.path.relpath(POLICY_SCHEMA.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return POLICY_SCHEMA.resolve().as_uri()


def render(policy_id: str, kind: str, folder: Path, today: dt.date,
           schema: str | None = None) -> dict[Path, str]:
    """The files `dqmc new` writes, by path."""
    from dqmc.authoring.policytest import TESTS_SUFFIX

    # The rule `dqmc check` applies, so a new spec never starts with an error (`new all`).
    problem = id_problem("policy", policy_id)
    if problem is not None:
        raise ScaffoldError(f"'{policy_id}' is not a policy id: {problem} (e.g. ozempic-dqm)")
    spec = folder / f"{policy_id}.{'dqm' if kind == 'dsl' else 'yaml'}"
    tests = folder / f"{policy_id}{TESTS_SUFFIX}"
    values = {"policy_id": policy_id, "title": title_for(policy_id), "today": today.isoformat(),
              "product": product_for(policy_id), "tests_name": tests.name,
              "spec_name": spec.name, "schema": schema or schema_reference(folder)}
    template = _DSL if kind == "dsl" else _YAML
    return {spec: template.format(**values), tests: _TESTS.format(**values)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy_id", metavar="POLICY-ID",
                        help="the new policy's id, e.g. ozempic-dqm")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--dsl", dest="kind", action="store_const", const="dsl",
                      help="write a DSL spec, POLICY-ID.dqm (the default)")
    kind.add_argument("--yaml", dest="kind", action="store_const", const="yaml",
                      help="write a YAML spec, POLICY-ID.yaml, with the schema modeline")
    parser.set_defaults(kind="dsl")
    parser.add_argument("--dir", default=DEFAULT_FOLDER,
                        help=f"the folder to write into (default {DEFAULT_FOLDER}/)")
    parser.add_argument("--schema", metavar="PATH",
                        help="the schema path for the YAML modeline (default: dqmc's own, "
                             "relative to the folder)")


def run(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    try:
        files = render(args.policy_id, args.kind, folder, dt.date.today(), args.schema)
    except ScaffoldError as exc:
        print(f"dqmc: error: {exc}", file=sys.stderr)
        return 2
    existing = [path.as_posix() for path in files if path.exists()]
    if existing:
        print(f"dqmc: error: not overwriting {', '.join(existing)}", file=sys.stderr)
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(f"created {path.as_posix()}")
    print(f"next: edit the spec and its tests, then `dqmc check {folder.as_posix()}`, "
          f"`dqmc test {folder.as_posix()}` (every rule, channel and criterion branch covered) "
          f"and `dqmc build` (generated/ is committed)")
    return 0
