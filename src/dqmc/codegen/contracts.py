"""The data contracts of generated packages: JSON Schemas of what the evaluators read and return.

The schemas are data files next to the runtime (`src/dqmc/runtime/schemas/`), written for
docs/contracts.md; `emit_python_package` ships them verbatim as `dqm_policies/schemas/` and
`dqmc schema NAME` prints them.
"""

from __future__ import annotations

from pathlib import Path

from dqmc import runtime as rt

SCHEMAS_DIR = Path(rt.__file__).parent / "schemas"
# name → what it describes; the file is SCHEMAS_DIR / f"{name}.schema.json"
CONTRACTS = {
    "claim": "a claim, with its history entries and authorizations (evaluate's input)",
    "decision": "a claim decision (evaluate's output)",
    "request": "an exception review request (review's input)",
    "review": "a review answer (review's output)",
}


def schema_path(name: str) -> Path:
    """The schema file of one contract."""
    if name not in CONTRACTS:
        raise KeyError(name)
    return SCHEMAS_DIR / f"{name}.schema.json"


def schema_files() -> dict[str, str]:
    """{file name: text} of every contract schema, as shipped."""
    return {path.name: path.read_text(encoding="utf-8")
            for path in (schema_path(name) for name in CONTRACTS)}
