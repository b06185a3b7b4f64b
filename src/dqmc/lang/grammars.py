"""Where the front-end contracts live: the DSL grammar and the JSON Schema for YAML specs."""

from __future__ import annotations

from pathlib import Path


def grammar_dir() -> Path:
    """The folder holding dqm.lark and policy.schema.json.

    A wheel carries it inside the package (pyproject force-include); an editable install or a
    source checkout reads it from the repository root. This is the only place that knows.
    """
    package = Path(__file__).resolve().parents[1]  # src/dqmc, or site-packages/dqmc
    packaged = package / "grammar"
    if (packaged / "dqm.lark").is_file():
        return packaged
    return package.parents[1] / "grammar"


DSL_GRAMMAR = grammar_dir() / "dqm.lark"
POLICY_SCHEMA = grammar_dir() / "policy.schema.json"
