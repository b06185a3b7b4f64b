"""The IR interpreter: the reference evaluator and exception review, the oracle of the tests.

It walks a policy's IR per call and is written to be read next to docs/semantics.md, not to be
fast; the generated modules (`dqmc.codegen.python_emit` over `dqmc.runtime`) implement the same
semantics specialised per policy, and the two must agree on every field of every decision
(tests/test_differential.py).
"""

from __future__ import annotations

from dqmc.interpreter.claims import decide, decide_many, evaluate, evaluate_many, evaluate_policy
from dqmc.interpreter.review import decide_review, review, review_many, review_policy

__all__ = ["decide", "decide_many", "decide_review", "evaluate", "evaluate_many",
           "evaluate_policy", "review", "review_many", "review_policy"]
