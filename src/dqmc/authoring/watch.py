"""`dqmc build --watch`: rebuild whenever a spec or its tests file changes (stdlib polling)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

DEFAULT_INTERVAL = 0.5  # seconds between looks at the files: a save shows within a second

Snapshot = dict[str, tuple[int, int]]  # path → (mtime in ns, size)


def watched_files(paths: Iterable[str]) -> list[Path]:
    """The files whose change can change the build: the specs (as `dqmc build` finds them, one
    level deep), their kept earlier versions under history/, the DSL files in the folders
    below (the shared factor files policies `use`, such as shared/cdc-2022-mme.dqm), and the
    documents' settings file."""
    from dqmc.codegen.docs_emit import DOCS_CONFIG_FILE
    from dqmc.lang.pipeline import is_spec, kept_version_files

    files: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.update(p for p in path.iterdir() if p.is_file() and is_spec(p))
            # Which of them a policy uses is known only by compiling; a save of one that no
            # policy uses costs one needless rebuild.
            files.update(p for p in path.glob("*/**/*.dqm") if p.is_file())
        elif path.is_file():
            files.add(path)
    # Kept earlier versions write the documents' revision summaries (dqmc build reads them).
    files.update(kept_version_files(list(files)))
    files.update(p for p in (Path(DOCS_CONFIG_FILE),) if p.is_file())
    return sorted(files)


def snapshot(paths: Iterable[str]) -> Snapshot:
    state: Snapshot = {}
    for path in watched_files(paths):
        try:
            stat = path.stat()
        except OSError:  # removed between the listing and the look: the next look sees it
            continue
        state[path.as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return state


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two looks: `changed: x`, `added: y`, `removed: z`."""
    out = [f"changed: {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    out += [f"added: {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"removed: {p}" for p in sorted(before.keys() - after.keys())]
    return out


def watch(paths: list[str], build: Callable[[], int], *, interval: float = DEFAULT_INTERVAL,
          keep_going: Callable[[], bool] = lambda: True,
          sleep: Callable[[float], None] = time.sleep) -> int:
    """Build now, then again after every change, until `keep_going` says stop; the last exit code.

    A build that fails (or crashes) is reported and the watch goes on: the next save may fix it.
    """
    state = snapshot(paths)
    code = _build_reporting(build)
    while keep_going():
        sleep(interval)
        now = snapshot(paths)
        if now == state:
            continue
        print("\n".join(changes(state, now)), flush=True)
        state = now
        code = _build_reporting(build)
    return code


def _build_reporting(build: Callable[[], int]) -> int:
    try:
        code = build()
    except Exception as exc:  # a compiler bug must not end the watch
        print(f"dqmc: error: INTERNAL ERROR: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 2
    status = "ok" if code == 0 else f"failed (exit {code})"
    print(f"[{time.strftime('%H:%M:%S')}] build {status}; watching for changes (Ctrl-C stops)",
          flush=True)
    return code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for the `build` command."""
    parser.add_argument("--watch", action="store_true",
                        help="rebuild whenever a spec changes, printing diagnostics (Ctrl-C stops)")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS",
                        help="with --watch, how often to look for changes "
                             f"(default {DEFAULT_INTERVAL})")


def run(args: argparse.Namespace, *, build_once: Callable[[argparse.Namespace], int],
        default_paths: list[str]) -> int:
    """`dqmc build --watch`: `build_once` (the ordinary build, given the options without
    --watch) on every change of the specs under `args.paths`, else `default_paths`."""
    if args.check:
        print("dqmc: error: --watch writes generated/; it cannot be combined with --check",
              file=sys.stderr)
        return 2
    once = argparse.Namespace(**{**vars(args), "watch": False})
    try:
        return watch(list(args.paths or default_paths), lambda: build_once(once),
                     interval=max(args.interval, 0.05))
    except KeyboardInterrupt:
        return 0
