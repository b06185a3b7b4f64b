"""Policy corpora for the compile and cold-start benchmarks: real specs varied into N policies."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from paths import REPO, SPECS

from dqmc.lang.pipeline import compile_paths, is_spec

# The policy library's checkout, if there is one: DQMC_POLICY_LIBRARY, or else a `library` folder
# next to this repository. Without it the corpus varies policy_specs/ alone.
LIBRARY = Path(os.environ.get("DQMC_POLICY_LIBRARY") or REPO.parent / "library")

# A limit's quantity: the number before "<unit or package noun> per" in either spelling.
_QUANTITY = re.compile(r"(?<=[\s:])(\d+(?:\.\d+)?)(?=\s+[A-Za-z]+\s+per\b)")


@dataclass(frozen=True)
class Template:
    """A real spec and the ids a variant must rename to stay distinct from every other policy."""

    name: str  # file name, for the variant's suffix
    text: str
    policy_id: str
    names: tuple[str, ...]  # product and group ids, longest first
    # the shared factor files it uses (`use factors`): path as the spec writes it, and text;
    # a variant needs them beside it as the spec does
    shared: tuple[tuple[str, str], ...] = ()


def templates(folders: tuple[Path, ...] = (SPECS, LIBRARY)) -> list[Template]:
    """Every distinct spec under the folders (byte-identical copies once), in name order."""
    seen: set[str] = set()
    found: list[Template] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not (path.is_file() and is_spec(path)):
                continue
            text = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            result = compile_paths([path])
            if not result.ok:
                continue
            policy = result.compiled[0].policy
            names = [p.id for p in policy.products] + [g.id for g in policy.groups]
            shared = tuple(sorted({(t.origin, (path.parent / t.origin).read_text(encoding="utf-8"))
                                   for t in policy.factor_tables if t.origin is not None}))
            found.append(Template(path.name, text, policy.id,
                                  tuple(sorted(names, key=lambda n: (-len(n), n))), shared))
    return found


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_.-]){re.escape(name)}(?![A-Za-z0-9_-])")


def variant(template: Template, n: int) -> str:
    """The template as policy number n: its own policy id, product and group ids and quantities."""
    suffix = f"-v{n:04d}"
    text = template.text
    for name in (template.policy_id, *template.names):
        text = _word(name).sub(name + suffix, text)
    factor = 1 + n % 3

    def scaled(match: re.Match[str]) -> str:
        value = Decimal(match.group(1)) * factor
        return format(value.normalize(), "f")

    return _QUANTITY.sub(scaled, text)


def write_corpus(count: int, folder: Path, pool: list[Template] | None = None) -> list[Path]:
    """Write `count` distinct policies into folder (cycling through the templates); their paths."""
    pool = pool if pool is not None else templates()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        template = pool[n % len(pool)]
        suffix = ".dqm" if template.name.endswith(".dqm") else ".yaml"
        path = folder / f"p{n:04d}-{template.policy_id}{suffix}"
        path.write_text(variant(template, n), encoding="utf-8")
        for relative, text in template.shared:
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
