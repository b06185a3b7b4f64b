"""Every IR field the evaluators read reaches the published document: changing it changes the text.

The test walks each policy of the library (and the every-rule sample) through `Node.walk`, and
for every content field of every node class (dataclass fields compared for equality; spans and
the index are not) changes one occurrence's value and renders the documents again. A field
whose change leaves both documents byte-identical would let the evaluator and the document
disagree; it must be listed in NOT_SHOWN with the reason, and the list is kept short. A new IR
field is picked up here without anyone writing a test for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from collections.abc import Iterator
from decimal import Decimal
from functools import cache

from docs_samples import SAMPLE_CONFIG, SAMPLE_VERSION, all_rules_compiled

from dqmc.codegen.docs_emit import emit_docs
from dqmc.lang.compiled import CompiledPolicy
from dqmc.lang.ir import nodes
from dqmc.lang.pipeline import compile_paths, compile_text

# (node class, field): why the document does not show it. Most are identifiers a claim or a
# request carries and the document names by what it is instead: renaming one changes which
# name a claim must use, not what is decided for it.
NOT_SHOWN: dict[tuple[str, str], str] = {
    ("Product", "id"): "claims name the product by id; the document names it by brand, generic, "
                       "strength and form",
    ("Package", "id"): "claims name the package by id; the document describes the package",
    ("Channel", "id"): "claims name the channel by id; the document prints its label",
    ("Group", "id"): "authorizations may name the group by id; the document prints its title",
    ("Fact", "id"): "review requests answer the fact by id; the document prints its question",
    ("Policy", "id"): "the generated module and document file are named by it; the document "
                      "prints the title",
    ("Fact", "values"): "the answers a review accepts; the document prints, per criterion, the "
                        "values it tests, and an answer outside the declared ones is refused as "
                        "invalid, never decided on",
    ("Quantity", "per_package"): "lowering derives it from the package's size `from drug file` "
                                 "(Package.size, shown); it is never stated on its own",
}


# What no library policy states (its sources give no NDC or GPI), so that it is checked too.
CODED = """
policy coded "Coded products" {
  type per_rx
  product coded-cream {
    brand "Coded"
    generic "codegenic"
    form "cream"
    gpi "90270030003720"
    ndc "00000000001"
    package tube-15g 15 g "15 gram tube" as tube { ndc "00000000002" }
  }
  limit coded-cream {
    all 2 tubes per fill
  }
  fact needs_more: bool "Is more needed?"
  criterion more {
    when needs_more
    approve requested coded-cream
  }
}
"""


@cache
def corpus() -> tuple[CompiledPolicy, ...]:
    """The library's policies, the every-rule sample and CODED, smallest first."""
    library = compile_paths(["policy_specs"]).compiled
    assert library, "the policy library does not compile"
    coded = compile_text("coded.dqm", CODED)
    assert coded.policy is not None and not coded.diagnostics, coded.diagnostics
    items = [*library, all_rules_compiled(),
             CompiledPolicy(policy=coded.policy, source="coded.dqm", content_hash="sha256:0")]
    return tuple(sorted(items, key=lambda c: sum(1 for _ in c.policy.walk())))


def _holds_nodes(hint: object) -> bool:
    """Whether a field's type can hold IR nodes (then `walk` visits what it holds)."""
    if isinstance(hint, type):
        return issubclass(hint, nodes.Node)
    return any(_holds_nodes(arg) for arg in typing.get_args(hint))


@cache
def value_fields(cls: type) -> tuple[str, ...]:
    """A node class's content fields (compared for equality) that hold values, not nodes."""
    hints = typing.get_type_hints(cls, vars(nodes))
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.compare and not _holds_nodes(hints[f.name]))


def content_fields(node: nodes.Node) -> Iterator[tuple[str, object]]:
    """(name, value) of a node's content fields that hold values, not child nodes."""
    for name in value_fields(type(node)):
        yield name, getattr(node, name)


def _literal_options(cls: type, name: str) -> tuple[object, ...]:
    hint = typing.get_type_hints(cls, vars(nodes)).get(name)
    options: list[object] = []
    for arm in typing.get_args(hint) or (hint,):
        if typing.get_origin(arm) is typing.Literal:
            options += typing.get_args(arm)
    if typing.get_origin(hint) is typing.Literal:
        options += typing.get_args(hint)
    return tuple(options)


def candidates(policy: nodes.Policy, node: nodes.Node, name: str, value: object
               ) -> Iterator[object]:
    """Other values the field could hold, most plausible first."""
    if isinstance(value, bool):
        yield not value
        return
    if isinstance(value, int):
        yield value + 1
        return
    if isinstance(value, Decimal):
        yield value + 1
        return
    if isinstance(value, dt.date):
        yield value + dt.timedelta(days=1)
        return
    if isinstance(value, nodes.Month):
        yield nodes.Month(value.year + 1, value.month)
        return
    if isinstance(value, tuple):
        if len(value) > 1:
            yield value[1:]
        if value and isinstance(value[0], str):
            yield (*value, value[0] + "9")
        return
    if isinstance(value, str):
        yield from (o for o in _literal_options(type(node), name) if o != value)
        same = [getattr(n, name) for n in policy.walk()
                if type(n) is type(node) and getattr(n, name) != value]
        yield from dict.fromkeys(v for v in same if isinstance(v, str))
        yield value + "9"


def documents(compiled: CompiledPolicy, policy: nodes.Policy) -> tuple[str, ...]:
    # The content hash is kept: the header quotes it, and the point is what else changes.
    mutated = CompiledPolicy(policy=policy, source=compiled.source,
                             content_hash=compiled.content_hash)
    emitted = emit_docs([mutated], SAMPLE_CONFIG, version=SAMPLE_VERSION)
    return tuple(text for path, text in sorted(emitted.items()) if path != "index.html")


def replaced(policy: nodes.Policy, target: nodes.Node, name: str, value: object) -> nodes.Policy:
    def swap(node: nodes.Node) -> nodes.Node:
        return dataclasses.replace(node, **{name: value}) if node is target else node  # type: ignore[type-var]

    result = policy.transform(swap)
    assert isinstance(result, nodes.Policy)
    return result


def occurrences() -> dict[tuple[str, str], list[tuple[CompiledPolicy, nodes.Node, object]]]:
    """Every (class, field) of the corpus, with where it holds a value (None: nothing to change)."""
    found: dict[tuple[str, str], list[tuple[CompiledPolicy, nodes.Node, object]]] = {}
    for compiled in corpus():
        for node in compiled.policy.walk():
            for name, value in content_fields(node):
                held = found.setdefault((type(node).__name__, name), [])
                if value is not None and value != () and len(held) < 3:
                    held.append((compiled, node, value))
    return found


def shown(compiled: CompiledPolicy, node: nodes.Node, name: str, value: object) -> bool:
    """Whether some other value of the field changes the documents."""
    before = documents(compiled, compiled.policy)
    for other in candidates(compiled.policy, node, name, value):
        try:
            after = documents(compiled, replaced(compiled.policy, node, name, other))
        except Exception:  # a value the generator cannot print: try another
            continue
        if after != before:
            return True
    return False


def test_every_decision_field_is_shown_in_the_document() -> None:
    silent, unexercised = [], []
    for key, held in sorted(occurrences().items()):
        if key in NOT_SHOWN:
            continue
        if not held:
            unexercised.append(key)
        elif not any(shown(compiled, node, key[1], value) for compiled, node, value in held):
            silent.append(key)
    assert not silent, f"fields the documents do not show (show them, or list why): {silent}"
    # A field no policy of the corpus sets cannot be checked: give the every-rule sample one.
    assert not unexercised, f"fields no corpus policy sets: {unexercised}"


def test_the_not_shown_list_is_small_and_names_real_fields() -> None:
    assert len(NOT_SHOWN) <= 8
    found = occurrences()
    for key in NOT_SHOWN:
        assert key in found, f"{key} is not a field of the IR any more"
