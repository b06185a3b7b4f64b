"""Safe builds (issue 7 §5, issue 3 §5): `dqmc build` is all or nothing, serial, and stable.

Fault injection at every file write of `dqmc.build.tree.write_tree` (an exception, or SIGKILL in a
subprocess) must leave the output folder byte for byte as it was, and the next build must clear
what a killed one left. Concurrent builds never leave (or show a reader) a mixed tree. A spec
with errors leaves the previous artifacts untouched and says so; unchanged files are not
rewritten; `--check` writes nothing. Output is the same whatever the hash seed, the order files
are found in, or the time of day, every Python file parses, and every header names its source.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from conftest import REPO

import dqmc.build.tree as build
from dqmc.build.tree import artifacts, write_tree
from dqmc.codegen.contracts import SCHEMAS_DIR
from dqmc.lang.pipeline import compile_paths, is_spec

SPECS = REPO / "policy_specs"


# ---------------------------------------------------------------------------------------------
# Trees: synthetic outputs shaped like generated/, and full snapshots of a folder


def tree(version: str, extra: Mapping[str, bytes] = ()) -> dict[str, bytes]:
    """40 files in the layout of generated/; even-numbered files change with the version."""
    files = {}
    for i in range(40):
        folder = ("ir", "python/dqm_policies", "docs")[i % 3]
        files[f"{folder}/file-{i:02}.txt"] = (f"{version} {i}\n" if i % 2 == 0
                                              else f"same {i}\n").encode()
    files.update(extra)
    return dict(sorted(files.items()))


OLD = tree("old", {"ir/orphan.json": b"{}\n"})
NEW = tree("new", {"docs/added.html": b"<!doctype html>\n"})
CHANGED_OR_ADDED = sum(1 for k, v in NEW.items() if OLD.get(k) != v)  # what _write_file writes
UNCHANGED = len(NEW) - CHANGED_OR_ADDED  # what write_tree hard-links


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under folder (caches included) by relative path with its bytes; None if none."""
    if not folder.exists():
        return None
    found = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return dict(sorted(found.items()))


def siblings(folder: Path) -> list[str]:
    """What else is in the output folder's parent: temporary trees must not outlive a build."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "work" / "generated"
    write_tree(OLD, folder)
    assert snapshot(folder) == OLD
    return folder


# ---------------------------------------------------------------------------------------------
# Faults raised inside the writer: every write, every link, the swap


class Injected(Exception):
    pass


def fail_on_call(n: int, real: Callable, exc: BaseException) -> Callable:
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            raise exc
        return real(*args, **kwargs)

    wrapper.calls = calls  # type: ignore[attr-defined]
    return wrapper


def test_the_fixture_trees_exercise_writes_links_and_removals(out: Path) -> None:
    assert CHANGED_OR_ADDED == 21 and UNCHANGED == 20
    changes = write_tree(NEW, out)
    assert (len(changes.stale), len(changes.missing)) == (20, 1)
    assert changes.orphaned == ["ir/orphan.json"]
    assert snapshot(out) == NEW and siblings(out) == [".generated.lock"]


@pytest.mark.parametrize("exc", [Injected("disk full"), OSError(28, "No space left on device"),
                                 KeyboardInterrupt()], ids=["exception", "oserror", "interrupt"])
def test_a_fault_at_every_file_write_leaves_the_output_as_it_was(
        out: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    real = build._write_file
    for n in range(1, CHANGED_OR_ADDED + 1):
        writer = fail_on_call(n, real, exc)
        monkeypatch.setattr(build, "_write_file", writer)
        with pytest.raises(type(exc)):
            write_tree(NEW, out)
        assert writer.calls[0] == n  # type: ignore[attr-defined]
        assert snapshot(out) == OLD, f"write {n} changed the output"
        assert siblings(out) == [".generated.lock"], f"write {n} left a temporary tree"
    monkeypatch.setattr(build, "_write_file", real)
    write_tree(NEW, out)
    assert snapshot(out) == NEW


def test_a_fault_at_every_link_of_an_unchanged_file_leaves_the_output_as_it_was(
        out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.link
    for n in range(1, UNCHANGED + 1):
        monkeypatch.setattr(os, "link", fail_on_call(n, real, Injected("link")))
        with pytest.raises(Injected):
            write_tree(NEW, out)
        assert snapshot(out) == OLD and siblings(out) == [".generated.lock"], n
    monkeypatch.setattr(os, "link", real)


def test_a_file_system_without_hard_links_copies_unchanged_files(
        out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    write_tree(NEW, out)
    assert snapshot(out) == NEW


def test_a_failed_swap_leaves_the_output_as_it_was(out: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def exchange(a: Path, b: Path) -> bool:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(build, "_exchange", exchange)
    with pytest.raises(OSError):
        write_tree(NEW, out)
    assert snapshot(out) == OLD and siblings(out) == [".generated.lock"]


def test_the_rename_fallback_restores_the_output_when_its_second_rename_fails(
        out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where renameat2 is missing, the swap is two renames. A failure of the second one used to
    # delete the new tree and leave no output folder at all until the next build.
    monkeypatch.setattr(build, "_exchange", lambda a, b: False)
    monkeypatch.setattr(os, "rename", fail_on_call(2, os.rename, Injected("rename")))
    with pytest.raises(Injected):
        write_tree(NEW, out)
    assert snapshot(out) == OLD and siblings(out) == [".generated.lock"]


def test_the_rename_fallback_builds_like_the_exchange(out: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "_exchange", lambda a, b: False)
    write_tree(NEW, out)
    assert snapshot(out) == NEW and siblings(out) == [".generated.lock"]


def test_a_first_build_that_fails_leaves_no_output_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fresh" / "generated"
    real = build._write_file
    for n in (1, 10, len(NEW)):
        monkeypatch.setattr(build, "_write_file", fail_on_call(n, real, Injected("x")))
        with pytest.raises(Injected):
            write_tree(NEW, folder)
        assert not folder.exists() and siblings(folder) == [".generated.lock"], n


# ---------------------------------------------------------------------------------------------
# SIGKILL in a subprocess at several points; the next build recovers

KILLER = r"""
import base64, json, os, signal, sys
from pathlib import Path
import dqmc.build.tree as build

job = json.load(open(sys.argv[1]))
outputs = {k: base64.b64decode(v) for k, v in job["outputs"].items()}
counts = {}

def kill_after(name, n, real):
    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        counts[name] = counts.get(name, 0) + 1
        if counts[name] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper

point, n = job["point"], job["n"]
if job["fallback"]:
    build._exchange = lambda a, b: False
if point == "write":
    build._write_file = kill_after("write", n, build._write_file)
elif point == "link":
    os.link = kill_after("link", n, os.link)
elif point == "rename":
    os.rename = kill_after("rename", n, os.rename)
elif point == "exchange":
    build._exchange = kill_after("exchange", n, build._exchange)
elif point == "cleanup":
    build.shutil.rmtree = kill_after("cleanup", n, build.shutil.rmtree)
build.write_tree(outputs, Path(job["out"]))
print("finished without being killed")
"""


def run_killed(out: Path, outputs: Mapping[str, bytes], point: str, n: int,
               fallback: bool = False) -> subprocess.CompletedProcess:
    job = out.parent.parent / f"job-{point}-{n}.json"
    job.write_text(json.dumps({
        "outputs": {k: base64.b64encode(v).decode() for k, v in outputs.items()},
        "out": str(out), "point": point, "n": n, "fallback": fallback}))
    return subprocess.run([sys.executable, "-c", KILLER, str(job)], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("point", "n"), [("write", 1), ("write", 2), ("write", 11),
                                          ("write", CHANGED_OR_ADDED), ("link", 1),
                                          ("link", UNCHANGED)])
def test_a_build_killed_while_writing_leaves_the_output_and_the_next_build_recovers(
        out: Path, point: str, n: int) -> None:
    run = run_killed(out, NEW, point, n)
    assert run.returncode == -signal.SIGKILL, run.stdout + run.stderr
    assert snapshot(out) == OLD
    leftovers = [name for name in siblings(out) if name.startswith(".dqmc-build-")]
    assert leftovers, "the killed build should have left its temporary tree behind"
    write_tree(NEW, out)  # the next build
    assert snapshot(out) == NEW and siblings(out) == [".generated.lock"]


def test_a_build_killed_after_the_swap_leaves_the_new_tree_and_the_next_build_cleans_up(
        out: Path) -> None:
    run = run_killed(out, NEW, "exchange", 1)
    assert run.returncode == -signal.SIGKILL
    assert snapshot(out) == NEW  # the swap is one system call: all of the new tree
    assert any(name.startswith(".dqmc-build-") for name in siblings(out))  # the old tree
    assert write_tree(NEW, out).clean
    assert siblings(out) == [".generated.lock"]


def test_a_build_killed_while_removing_the_old_tree_is_finished_by_the_next(out: Path) -> None:
    run = run_killed(out, NEW, "cleanup", 2)  # the first rmtree clears a stale temp path
    assert run.returncode == -signal.SIGKILL
    assert snapshot(out) == NEW
    write_tree(NEW, out)
    assert siblings(out) == [".generated.lock"]


@pytest.mark.parametrize("n", [1, 2])
def test_a_fallback_build_killed_between_its_renames_is_restored_by_the_next(
        out: Path, n: int) -> None:
    run = run_killed(out, NEW, "rename", n, fallback=True)
    assert run.returncode == -signal.SIGKILL
    if n == 1:  # between the two renames: the old tree is moved away, the new not yet in place
        assert snapshot(out) is None
        build.recover(out)
        assert snapshot(out) == OLD  # recovery puts the old tree back, byte for byte
    else:
        assert snapshot(out) == NEW
    write_tree(NEW, out)
    assert snapshot(out) == NEW and siblings(out) == [".generated.lock"]


def test_recovery_touches_only_this_output_folders_temporary_trees(tmp_path: Path) -> None:
    # Sibling output folders whose names extend each other (`gen`, `gen-2`): building one used to
    # delete the other's build in progress, or rename the other's moved-away tree into place.
    parent = tmp_path / "p"
    write_tree({"a": b"gen-2"}, parent / "gen-2")
    in_progress = parent / ".dqmc-build-gen-2-4242"
    moved_away = parent / ".dqmc-build-gen-2-4241-old"
    glob_like = parent / ".dqmc-build-gen[1]-4240"
    for folder in (in_progress, moved_away, glob_like):
        folder.mkdir()
        (folder / "f").write_bytes(b"keep me")
    write_tree({"b": b"gen"}, parent / "gen")
    assert snapshot(parent / "gen") == {"b": b"gen"}
    assert in_progress.exists() and moved_away.exists() and glob_like.exists()
    write_tree({"c": b"x"}, parent / "gen[1]")  # glob characters in the name
    assert not glob_like.exists() and in_progress.exists()
    build.recover(parent / "gen-2")
    assert not in_progress.exists() and not moved_away.exists()
    assert snapshot(parent / "gen-2") == {"a": b"gen-2"}


# ---------------------------------------------------------------------------------------------
# Concurrent builds: serialised by the lock; the tree is always one complete output

WRITER = r"""
import base64, json, sys, time
from pathlib import Path
from dqmc.build.tree import write_tree

job = json.load(open(sys.argv[1]))
outputs = {k: base64.b64decode(v) for k, v in job["outputs"].items()}
go = Path(job["go"])
while not go.exists():
    time.sleep(0.001)
for _ in range(job["rounds"]):
    write_tree(outputs, Path(job["out"]))
"""

READER = r"""
import hashlib, json, os, sys
from pathlib import Path

out, stop = sys.argv[1], Path(sys.argv[2])
seen, torn = {}, 0

def read():
    # Through directory descriptors: once `out` is opened, a swap of the name cannot mix trees.
    top = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        inode = os.fstat(top).st_ino
        files = {}
        for root, dirs, names, fd in os.fwalk(".", dir_fd=top):
            for name in names:
                handle = os.open(name, os.O_RDONLY, dir_fd=fd)
                with os.fdopen(handle, "rb") as f:
                    files[os.path.normpath(os.path.join(root, name))] = f.read()
    finally:
        os.close(top)
    return inode, files

while not stop.exists():
    try:
        inode, files = read()
        live = os.stat(out).st_ino == inode  # not swapped out (and being deleted) meanwhile
    except OSError:
        torn += 1
        continue
    if not live:
        torn += 1
        continue
    listing = sorted((k, v.hex()) for k, v in files.items())
    digest = hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    seen[digest] = seen.get(digest, 0) + 1
print(json.dumps({"seen": seen, "torn": torn}))
"""


def digest(files: Mapping[str, bytes]) -> str:
    return hashlib.sha256(json.dumps(sorted((k, v.hex()) for k, v in files.items()))
                          .encode()).hexdigest()


def test_concurrent_builds_never_leave_or_show_a_mixed_tree(out: Path, tmp_path: Path) -> None:
    a, b = tree("alpha", {"docs/only-a.html": b"a\n"}), tree("beta", {"ir/only-b.json": b"b\n"})
    go, stop = tmp_path / "go", tmp_path / "stop"
    writers = []
    for name, outputs in (("a", a), ("b", b)):
        job = tmp_path / f"writer-{name}.json"
        job.write_text(json.dumps({"outputs": {k: base64.b64encode(v).decode()
                                               for k, v in outputs.items()},
                                   "out": str(out), "go": str(go), "rounds": 40}))
        writers.append(subprocess.Popen([sys.executable, "-c", WRITER, str(job)]))
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)  # let the interpreters start: the writers wait for `go`
    go.touch()
    for writer in writers:
        assert writer.wait(timeout=300) == 0
    stop.touch()
    report = json.loads(reader.communicate(timeout=120)[0])
    final = snapshot(out)
    assert final in (a, b)
    assert siblings(out) == [".generated.lock"]
    allowed = {digest(OLD), digest(a), digest(b)}
    assert set(report["seen"]) <= allowed, "a reader saw a tree that is none of the outputs"
    assert sum(report["seen"].values()) > 0
    print(f"\nconcurrent builds: {report}")


def test_two_concurrent_cli_builds_of_different_specs_end_with_one_complete_output(
        tmp_path: Path) -> None:
    out = tmp_path / "shared" / "generated"
    inputs = {"a": ["policy_specs/anzupgo.dqm", "policy_specs/mn-dhs-ubrelvy.yaml"],
              "b": ["policy_specs/wha-ql-general.yaml"]}

    def complete_outputs(round_: int) -> list[dict[str, bytes] | None]:
        found = []
        for name, specs in inputs.items():
            alone = tmp_path / "alone" / f"{round_}-{name}" / "generated"
            run = subprocess.run([sys.executable, "-m", "dqmc", "build", *specs, "--out",
                                  str(alone)], cwd=REPO, capture_output=True, text=True,
                                 timeout=300)
            assert run.returncode == 0, run.stderr
            found.append(snapshot(alone))
        return found

    for round_ in range(3):
        before = complete_outputs(round_)
        runs = [subprocess.Popen([sys.executable, "-m", "dqmc", "build", *specs, "--out",
                                  str(out)], cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE) for specs in inputs.values()]
        assert [r.wait(timeout=300) for r in runs] == [0, 0]
        # The references are built before and after, so that an edit of the compiler made
        # meanwhile (other work in this tree) cannot pass for a mixed tree.
        final = snapshot(out)
        assert final in before or final in complete_outputs(round_ + 10)
        assert siblings(out) == [".generated.lock"]


# ---------------------------------------------------------------------------------------------
# The command line: errors leave the output untouched; unchanged files are kept; --check


def dqmc(*args: str, cwd: Path = REPO, env: Mapping[str, str] | None = None,
         ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqmc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300,
                          env=None if env is None else {**os.environ, **env})


def stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    """A copy of the policy library to edit, with the documents' configuration beside it."""
    folder = tmp_path / "repo"
    (folder / "policy_specs").mkdir(parents=True)
    for spec in SPECS.iterdir():
        if spec.is_file():
            (folder / "policy_specs" / spec.name).write_bytes(spec.read_bytes())
    # the shared factor files the specs use (`use factors`), where they read them
    shutil.copytree(SPECS / "shared", folder / "policy_specs" / "shared")
    (folder / "docs.config.yaml").write_bytes((REPO / "docs.config.yaml").read_bytes())
    return folder


def test_a_spec_with_errors_leaves_the_previous_artifacts_untouched_and_says_so(
        spec_copy: Path) -> None:
    assert dqmc("build", cwd=spec_copy).returncode == 0
    out = spec_copy / "generated"
    before, times = snapshot(out), stats(out)
    (spec_copy / "policy_specs/broken.dqm").write_text(
        'policy broken "B" {\n  type per_days\n'
        '  product broken-cream { brand "B" generic "g" form "cream" unit g }\n'
        '  limit broken-cream { retail 30 kg per 30 days }\n}\n', encoding="utf-8")
    run = dqmc("build", cwd=spec_copy)
    assert run.returncode == 1
    assert "error[unit.unknown]" in run.stderr
    assert re.search(r"\n1 error, .* in \d+ files; generated/ left untouched\n", run.stderr)
    assert snapshot(out) == before and stats(out) == times
    assert sorted(p.name for p in spec_copy.iterdir()) == [
        ".dqmc-cache", ".generated.lock", "docs.config.yaml", "generated", "policy_specs"]


def test_unchanged_files_are_not_rewritten(spec_copy: Path) -> None:
    assert dqmc("build", cwd=spec_copy).returncode == 0
    out = spec_copy / "generated"
    before, times = snapshot(out), stats(out)
    time.sleep(0.05)
    clean = dqmc("build", cwd=spec_copy).stdout.strip()
    assert clean.endswith(f"0 files changed, {len(before)} in all")
    assert stats(out) == times  # a clean build touches nothing
    spec = spec_copy / "policy_specs/wha-ql-general.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "\n# a comment changes no artifact\n")
    assert dqmc("build", cwd=spec_copy).returncode == 0
    assert stats(out) == times
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("title: ", "title: Renamed ", 1))
    run = dqmc("build", cwd=spec_copy)
    assert run.returncode == 0
    after, new_times = snapshot(out), stats(out)
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed and all("wha" in p or p in ("docs/index.html", "docs/drugs.json")
                           or p.startswith("python/")
                           for p in changed), changed
    for path in after:
        if path not in changed:
            assert new_times[path] == times[path], f"{path} was rewritten"
        else:
            assert new_times[path][0] != times[path][0]
    for line in run.stdout.splitlines()[:-1]:
        assert line.startswith("updated: ") and line.split("generated/", 1)[1] in changed


def test_check_reports_stale_missing_and_orphaned_files_and_writes_nothing(spec_copy: Path) -> None:
    assert dqmc("build", cwd=spec_copy).returncode == 0
    out = spec_copy / "generated"
    clean = dqmc("build", "--check", cwd=spec_copy)
    assert clean.returncode == 0 and "is up to date" in clean.stdout
    (out / "ir/anzupgo-dqm.json").write_text("{}\n")
    (out / "docs/index.html").unlink()
    (out / "python/dqm_policies/stray.py").write_text("x = 1\n")
    (out / "python/dqm_policies/__pycache__").mkdir()
    (out / "python/dqm_policies/__pycache__/x.cpython-311.pyc").write_bytes(b"\0")
    before, times = snapshot(out), stats(out)
    parent = sorted(p.name for p in spec_copy.iterdir())
    run = dqmc("build", "--check", cwd=spec_copy)
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        "stale: generated/ir/anzupgo-dqm.json",
        "missing: generated/docs/index.html",
        "orphaned: generated/python/dqm_policies/stray.py",
        "generated/ is out of date: run `dqmc build`"]
    assert snapshot(out) == before and stats(out) == times
    assert sorted(p.name for p in spec_copy.iterdir()) == parent
    fixed = dqmc("build", cwd=spec_copy)
    assert fixed.returncode == 0
    assert dqmc("build", "--check", cwd=spec_copy).returncode == 0
    assert not (out / "python/dqm_policies/stray.py").exists()


# ---------------------------------------------------------------------------------------------
# Determinism (issue 3): hash seeds, discovery order, time; parsing; headers


def test_builds_under_different_hash_seeds_and_times_are_byte_identical(tmp_path: Path) -> None:
    outputs = []
    for seed in ("0", "1", "4294967295", "random"):
        target = tmp_path / f"seed-{seed}"
        run = dqmc("build", "--out", str(target), env={"PYTHONHASHSEED": seed})
        assert run.returncode == 0, run.stderr
        outputs.append(snapshot(target))
        time.sleep(1.1 if seed == "0" else 0)  # a timestamp in seconds would differ
    assert outputs[0] and all(o == outputs[0] for o in outputs[1:])


def test_the_order_files_are_found_in_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(p for p in SPECS.iterdir() if p.is_file() and is_spec(p))
    forward = artifacts(compile_paths(files).compiled)
    assert len(forward) > 20
    backward = artifacts(compile_paths(files[::-1]).compiled)
    real_iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(sorted(real_iterdir(self),
                                                                   reverse=True)))
    reversed_discovery = artifacts(compile_paths([SPECS]).compiled)
    assert forward == backward == reversed_discovery


HEADER = re.compile(r"(?:# |<!-- )@generated by dqmc (\S+) from (.+?) \((sha256:[0-9a-f]{64})\)")


def test_every_python_file_parses_and_every_header_names_its_source_and_hash() -> None:
    result = compile_paths([SPECS])
    files = artifacts(result.compiled)
    by_id = {c.policy.id: c for c in result.compiled}
    kept = {}
    for c in result.compiled:
        for version in c.earlier:
            assert version.last_day is not None
            day = version.last_day
            kept[f"docs/{c.policy.id}/{day.isoformat()}"] = version
            kept[f"python/dqm_policies/{c.policy.id.replace('-', '_')}__{day:%Y_%m_%d}"] = version
    assert kept, "policy_specs/ keeps an earlier version of Anzupgo"
    today = dt.date.today()
    for path, data in files.items():
        text = data.decode("utf-8")
        if "/schemas/" in path:  # the data contracts, verbatim (JSON has no comment to head it)
            assert text == (SCHEMAS_DIR / Path(path).name).read_text(encoding="utf-8"), path
            continue
        if path.endswith(".py"):
            ast.parse(text, filename=path)
            compile(text, path, "exec")
        if path == "docs/drugs.json":  # the drug lookup, made from every policy
            document = json.loads(text)
            assert all(f"{c.source} ({c.content_hash})" in document["@generated"]
                       for c in result.compiled)
        elif path.endswith(".json"):
            document = json.loads(text)
            item = by_id[document["policy"]["id"]]
            assert document["@generated"] == (
                f"by dqmc {build.__version__} from {item.source}. DO NOT EDIT.")
            assert (document["source"], document["content_hash"]) == (item.source,
                                                                       item.content_hash)
        else:
            match = HEADER.match(text)
            assert match, f"{path} does not start with a generated header"
            stem = Path(path).stem.replace("_", "-")
            # A kept earlier version's module (<module>__<last day>.py) or documents
            # (docs/<policy-id>/<last day>.html|md) are made from that version alone.
            item = by_id.get(stem) or kept.get(Path(path).with_suffix("").as_posix())
            if item is not None:  # one policy's file: its own source and content hash
                assert match.group(2, 3) == (item.source, item.content_hash), path
            elif path == "docs/index.html":  # lists every policy: each source with its hash
                first_line = text.split("\n", 1)[0]
                assert all(f"{c.source} ({c.content_hash})" in first_line
                           for c in result.compiled)
            elif "/_runtime/" in path:  # the runtime package, copied file by file
                assert match.group(2) == f"src/dqmc/runtime/{Path(path).name}", path
            else:  # made from every policy: their folder and a hash over all of them
                assert match.group(2) == "policy_specs/", path
        first_line = text.split("\n", 1)[0]
        for stamp in (today.isoformat(), today.strftime("%m/%d/%Y"), str(today.year) + "-"):
            assert stamp not in first_line, f"{path}: a date in the header"
        assert not re.search(r"\b\d{1,2}:\d{2}(:\d{2})?\b", first_line), f"{path}: a time"
