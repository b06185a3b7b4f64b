"""`dqmc build`: every artifact of every policy, written atomically, or compared with disk
(`--check`).

The whole output tree is assembled in memory first; every Python file is compiled. Writing
builds a sibling temporary tree (unchanged files hard-linked, so their bytes and times stay) and
swaps it with the old one in one `renameat2(RENAME_EXCHANGE)`, so a failed or killed build leaves
the previous `generated/` exactly as it was, and readers never see a half-written tree.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dqmc import __version__
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.ir.canonical import ir_data

if TYPE_CHECKING:
    from dqmc.revisions.diff import EarlierVersion

TMP_PREFIX = ".dqmc-build-"


class BuildError(Exception):
    """An artifact the generators produced is unusable (a compiler bug, never a user error)."""


def ir_artifacts(compiled: Sequence[CompiledPolicy]) -> dict[str, str]:
    """generated/ir/<policy-id>.json: the canonical IR with its provenance and content hash."""
    out: dict[str, str] = {}
    for item in compiled:
        document = {
            "@generated": f"by dqmc {__version__} from {item.source}. DO NOT EDIT.",
            "content_hash": item.content_hash,
            "source": item.source,
            **ir_data(item.policy),  # ir_version and policy
        }
        out[f"ir/{item.policy.id}.json"] = visible_json(
            json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
    return out


_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def visible_json(text: str) -> str:
    """JSON text with every invisible character of spec text written as a \\u escape.

    `ensure_ascii=False` keeps the IR readable, but json.dumps then leaves bidi controls, C1
    controls, line separators and other invisible characters raw: a reviewer reading a diff of
    generated/ir would see text reordered or hidden ("Trojan Source"). Such characters only occur
    inside JSON strings (the layout is ASCII), where an escape decodes to the same value.
    """
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char.isprintable():
            return char
        code = ord(char)
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        code -= 0x10000  # astral: a UTF-16 surrogate pair, as JSON spells it
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

    return _NON_ASCII.sub(escape, text)


def load_histories(compiled: Sequence[CompiledPolicy]
                   ) -> tuple[dict[str, list[EarlierVersion]], list[Diagnostic]]:
    """The kept earlier versions of each policy (`<spec folder>/history/<policy-id>/`), by id."""
    from dqmc.lang.pipeline import history_folder
    from dqmc.revisions.diff import load_history

    histories: dict[str, list[EarlierVersion]] = {}
    problems: list[Diagnostic] = []
    for item in compiled:
        versions, found = load_history(item.policy.id, history_folder(Path(item.source)))
        problems += found
        if versions:
            histories[item.policy.id] = versions
    return histories, problems


def artifacts(compiled: Sequence[CompiledPolicy], *, docs_config: Path | None = None,
              histories: Mapping[str, Sequence[EarlierVersion]] | None = None) -> dict[str, bytes]:
    """Every file of generated/, by posix path relative to it, as bytes.

    `histories` (from `load_histories`) lets the documents fill revision rows that have no
    written summary with the semantic diff between the versions.

    Raises:
        DocsConfigError: the documents configuration file is malformed (a missing default
            file gives neutral boilerplate).
    """
    from dqmc.codegen.docs_emit import emit_docs, resolve_docs_config
    from dqmc.codegen.loader import loaded_files
    from dqmc.codegen.python_emit import emit_python_package
    from dqmc.revisions.diff import summaries_for_revisions

    files: dict[str, str] = {}
    files.update(ir_artifacts(compiled))
    python = emit_python_package(compiled, version=__version__)
    files.update({f"python/{k}": v for k, v in python.items()})
    config = resolve_docs_config(docs_config)
    summaries = {item.policy.id: summaries_for_revisions(item.policy, histories[item.policy.id])
                 for item in compiled if histories and item.policy.id in histories}
    # The documents' worked examples are decided by the very package this build writes.
    with loaded_files(python) as package:
        files.update({f"docs/{k}": v for k, v in
                      emit_docs(compiled, config, version=__version__,
                                revision_summaries=summaries, evaluate=package.evaluate).items()})
    # Every .py here came from emit_python_package, which compile()s each one (EmitError if not
    # valid Python); parsing them again cost 8% of a 1,000-policy build.
    return {path: text.encode("utf-8") for path, text in sorted(files.items())}


@dataclass
class Staleness:
    """How generated/ differs from what the specs compile to."""

    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.orphaned)

    def lines(self, out_dir: Path, labels: Mapping[str, str] | None = None) -> list[str]:
        """`stale: generated/x`, one line a file; `labels` renames the kinds (a written build
        says `updated`, `created` and `removed`)."""
        said = {"stale": "stale", "missing": "missing", "orphaned": "orphaned", **(labels or {})}
        return [f"{said[kind]}: {(out_dir / rel).as_posix()}"
                for kind, files in (("stale", self.stale), ("missing", self.missing),
                                    ("orphaned", self.orphaned))
                for rel in files]


def files_on_disk(out_dir: Path) -> set[str]:
    if not out_dir.is_dir():
        return set()
    found = set()
    for root, dirs, names in os.walk(out_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__"]  # importing generated code makes these
        for name in names:
            if name.endswith(".pyc"):
                continue
            found.add(Path(root, name).relative_to(out_dir).as_posix())
    return found


def compare(outputs: Mapping[str, bytes], out_dir: Path) -> Staleness:
    result = Staleness()
    on_disk = files_on_disk(out_dir)
    for rel, data in outputs.items():
        if rel not in on_disk:
            result.missing.append(rel)
        elif (out_dir / rel).read_bytes() != data:
            result.stale.append(rel)
    result.orphaned = sorted(on_disk - set(outputs))
    return result


@contextlib.contextmanager
def build_lock(out_dir: Path) -> Iterator[None]:
    """One build at a time per output folder (concurrent builds would race on the swap)."""
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _leftovers(out_dir: Path) -> list[Path]:
    """The temporary trees of earlier builds of out_dir: `<prefix><name>-<pid>[-old]`, exactly.

    Not a glob on `<prefix><name>-*`: that also matched the trees of a sibling output folder
    whose name extends this one (`gen` matched `gen-2`'s), so building `gen` deleted a build of
    `gen-2` in progress (a partial tree was then swapped in) or renamed its moved-away tree to
    `gen`; and a name holding glob characters (`gen[1]`) matched nothing or something else.
    """
    pattern = re.compile(re.escape(f"{TMP_PREFIX}{out_dir.name}") + r"-[0-9]+(?:-old)?")
    parent = out_dir.parent
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if pattern.fullmatch(p.name))


def recover(out_dir: Path) -> None:
    """Finish or undo a build that died: restore a moved-away tree, drop temporary trees."""
    for leftover in _leftovers(out_dir):
        if leftover.name.endswith("-old") and not out_dir.exists():
            os.rename(leftover, out_dir)  # the fallback swap died between its two renames
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_tree(outputs: Mapping[str, bytes], out_dir: Path) -> Staleness:
    """Make out_dir hold exactly `outputs`; returns what changed. Atomic: all or nothing."""
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(out_dir):
        recover(out_dir)
        changes = compare(outputs, out_dir)
        if changes.clean:
            return changes
        tmp = out_dir.parent / f"{TMP_PREFIX}{out_dir.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            unchanged = set(outputs) - set(changes.stale) - set(changes.missing)
            for rel, data in outputs.items():
                target = tmp / rel
                if rel in unchanged:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(out_dir / rel, target)  # same bytes, same inode: not rewritten
                    except OSError:
                        shutil.copy2(out_dir / rel, target)
                else:
                    _write_file(target, data)
            if out_dir.exists():
                if not _exchange(tmp, out_dir):
                    old = out_dir.parent / f"{TMP_PREFIX}{out_dir.name}-{os.getpid()}-old"
                    os.rename(out_dir, old)
                    try:
                        os.rename(tmp, out_dir)
                    except BaseException:
                        # Put the old tree back: without this, the `finally` below deleted the
                        # new tree and left out_dir missing until the next build's recover().
                        os.rename(old, out_dir)
                        raise
                    tmp = old
            else:
                os.rename(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return changes
