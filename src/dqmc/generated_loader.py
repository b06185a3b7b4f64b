"""Import a freshly generated evaluator package in-process (for `dqmc eval`, `dqmc test`, tests)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Sequence

from dqmc import __version__
from dqmc.compiled import CompiledPolicy

_PACKAGE = "dqm_policies"


def write_generated(compiled: Sequence[CompiledPolicy], root: Path) -> Path:
    """Write the generated Python package under root; returns the package folder."""
    from dqmc.codegen.python_emit import emit_python_package

    for rel, text in emit_python_package(compiled, version=__version__).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / _PACKAGE


def load_generated(compiled: Sequence[CompiledPolicy]) -> ModuleType:
    """The generated `dqm_policies` registry for these policies, under a private module name.

    The name is unique per set of policies, so it never clashes with an installed
    `dqm_policies` or with another set loaded in the same process.
    """
    digest = hashlib.sha256("".join(c.content_hash for c in compiled).encode()).hexdigest()[:16]
    name = f"_dqmc_generated_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    package_dir = write_generated(compiled, Path(tempfile.mkdtemp(prefix="dqmc-eval-")))
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
