"""Import a freshly generated evaluator package in-process (for `dqmc eval`, `dqmc test`, tests)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType

from dqmc import __version__
from dqmc.lang.compiled import CompiledPolicy

_PACKAGE = "dqm_policies"


def emitted_files(compiled: Sequence[CompiledPolicy]) -> dict[str, str]:
    """The generated package's files (relative path → text) for these policies."""
    from dqmc.codegen.python_emit import emit_python_package

    return emit_python_package(compiled, version=__version__)


def write_files(files: dict[str, str], root: Path) -> Path:
    """Write generated files under root; returns the package folder."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / _PACKAGE


def write_generated(compiled: Sequence[CompiledPolicy], root: Path) -> Path:
    """Write the generated Python package under root; returns the package folder."""
    return write_files(emitted_files(compiled), root)


def files_digest(files: dict[str, str]) -> str:
    """A short name for exactly these generated texts (paths and spans in traces included)."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def import_package(package_dir: Path, name: str) -> ModuleType:
    """Import the package in package_dir as `name`; a failed import leaves no half-built module."""
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]
        raise
    return module


def load_generated(compiled: Sequence[CompiledPolicy]) -> ModuleType:
    """The generated `dqm_policies` registry for these policies, under a private module name.

    The name is a digest of the generated text itself, so it never clashes with an installed
    `dqm_policies` or with another set loaded in the same process, and two specs with equal IR
    but different sources (whose traces name different lines) never share a module.
    """
    files = emitted_files(compiled)
    name = f"_dqmc_generated_{files_digest(files)}"
    if name in sys.modules:
        return sys.modules[name]
    package_dir = write_files(files, Path(tempfile.mkdtemp(prefix="dqmc-eval-")))
    return import_package(package_dir, name)


@contextlib.contextmanager
def loaded_files(files: Mapping[str, str]) -> Iterator[ModuleType]:
    """The package of these generated files, imported for the duration of the `with` only.

    A build decides its documents' worked examples with the very package it writes; its files
    live in a temporary folder while the block runs (a policy module is imported when a claim
    first needs it), and the folder and the modules are gone afterwards.
    """
    name = f"_dqmc_examples_{files_digest(dict(files))}"
    with tempfile.TemporaryDirectory(prefix="dqmc-examples-") as root:
        package = import_package(write_files(dict(files), Path(root)), name)
        try:
            yield package
        finally:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]
