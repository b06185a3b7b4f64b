"""Loaded YAML data → JSON Schema diagnostics, each at the exact key or value it is about."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from dqmc.lang.diagnostics import Diagnostic
from dqmc.lang.frontend.yaml_load import YamlDocument, pointer_join
from dqmc.lang.grammars import POLICY_SCHEMA
from dqmc.lang.source import Span

_RANGE_VALIDATORS = {"minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
                     "exclusiveMinimum", "exclusiveMaximum", "minProperties", "maxProperties"}

# What a mapping under each collection key holds, for messages ("product 'x' is missing ...").
_ITEM_NOUNS = {
    "products": "product", "packages": "package", "groups": "group", "facts": "fact",
    "criteria": "criterion", "sections": "section", "history": "history entry",
    "limits": "limits of", "approve": "approvals of", "channels": "channel",
}

_TYPE_WORDS = {
    "object": "a mapping (`key: value` lines)", "array": "a list", "string": "text",
    "boolean": "true or false", "integer": "a whole number", "number": "a number",
    "null": "nothing",
}


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The JSON Schema for policy YAML files (grammar/policy.schema.json)."""
    return json.loads(POLICY_SCHEMA.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema())


def validate(document: YamlDocument, schema: dict[str, Any] | None = None) -> list[Diagnostic]:
    """Every schema violation in the document, one diagnostic per location and problem."""
    validator = _validator() if schema is None else Draft202012Validator(schema)
    # A string key: paths mix str and int, which do not sort against each other.
    errors = sorted(validator.iter_errors(document.data),
                    key=lambda e: (e.json_path, str(e.validator), e.message))
    found: list[Diagnostic] = []
    for error in errors:
        found.extend(_diagnostics(document, error))
    return list(dict.fromkeys(found))  # one message per location and problem, in order


def _diagnostics(doc: YamlDocument, error: ValidationError) -> Iterable[Diagnostic]:
    path = list(error.absolute_path)
    pointer = _pointer(path)
    validator = error.validator
    if validator in ("anyOf", "oneOf"):
        yield from _alternatives(doc, error)
    elif validator == "additionalProperties":
        yield from _unknown_keys(doc, error, path)
    elif validator == "required":
        yield from _missing_keys(doc, error, path)
    elif _is_key_error(error):
        yield _key_problem(doc, error, path)
    elif validator == "type":
        yield Diagnostic("schema.type", _type_message(doc, error, pointer), doc.span(pointer))
    elif validator in ("enum", "const"):
        yield Diagnostic("schema.enum", _enum_message(error), doc.span(pointer))
    elif validator == "pattern":
        yield Diagnostic("schema.pattern", _pattern_message(error), doc.span(pointer))
    elif validator in _RANGE_VALIDATORS:
        yield Diagnostic("schema.range", _range_message(error, path), doc.span(pointer))
    elif validator == "not" and error.validator_value == {}:
        # `{"not": {}}` marks a key that must not be present here; its description says why.
        yield Diagnostic("schema.unknown-key", f"'{path[-1]}' is not allowed here: "
                         f"{_description(error) or 'remove it'}", doc.key_span(pointer))
    else:
        hint = _description(error)
        message = f"{_shown(error.instance)} is not valid here" + (f": {hint}" if hint else
                                                                   f" ({error.message})")
        yield Diagnostic("schema.invalid", message, doc.span(pointer))


# -- keys ---------------------------------------------------------------------------------------


def _unknown_keys(doc: YamlDocument, error: ValidationError, path: list) -> Iterable[Diagnostic]:
    allowed = list(_schema(error).get("properties", {}))
    for key in _json(error.instance):
        if key in allowed:
            continue
        where = _where(path)
        message = f"unknown key '{key}'" + (f" in {where}" if where else "")
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
        message += f" Allowed keys: {', '.join(allowed)}"
        span = doc.key_span(pointer_join(_pointer(path), key))
        yield Diagnostic("schema.unknown-key", message, span)


def _missing_keys(doc: YamlDocument, error: ValidationError, path: list) -> Iterable[Diagnostic]:
    properties = _schema(error).get("properties", {})
    where = _where(path) or "the file"
    for key in _json(error.validator_value):
        if key in _json(error.instance):
            continue
        about = properties.get(key, {}).get("description") or _schema(error).get("description")
        message = f"{where} is missing `{key}`: add `{key}: ...`"
        if about:
            message += f" ({_sentence(about)})"
        yield Diagnostic("schema.required", message, doc.key_span(_pointer(path)))


def _is_key_error(error: ValidationError) -> bool:
    # Errors inside `propertyNames` come back with the mapping's path and the key as instance.
    return "propertyNames" in error.absolute_schema_path


def _key_problem(doc: YamlDocument, error: ValidationError, path: list) -> Diagnostic:
    key = error.instance
    at = _pointer(path)
    span = doc.key_span(pointer_join(at, key)) if isinstance(key, str) else doc.span(at)
    what = _lower_first(_schema(error).get("title", "key"))
    hint = _description(error)
    if error.validator == "pattern":
        code, head = "schema.pattern", f"'{key}' is not a valid {what}"
    else:
        code, head = "schema.invalid", f"'{key}' cannot be a {what}"
    return Diagnostic(code, head + (f": {hint}" if hint else ""), span)


# -- values -------------------------------------------------------------------------------------


def _type_message(doc: YamlDocument, error: ValidationError, pointer: str) -> str:
    wanted = _json(error.validator_value)
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    expected = " or ".join(_TYPE_WORDS.get(n, n) for n in names)
    found = _json_type(error.instance)
    where = _where(list(error.absolute_path)) or "the file"
    message = f"{where} must be {expected}, not {_TYPE_WORDS[found]}"
    if "string" in names and found in ("integer", "number", "boolean", "null"):
        written = _source_text(doc, pointer)
        if found == "null":
            message += "; write the text after the colon"
        else:
            message += f"; quote it to keep it as text: \"{written}\""
    elif names == ["boolean"]:
        message += "; write true or false"
    return message


def _enum_message(error: ValidationError) -> str:
    wanted = _json(error.validator_value)
    allowed = wanted if error.validator == "enum" else [wanted]
    shown = ", ".join(str(a) for a in allowed)
    title = _schema(error).get("title")
    head = f"{_shown(error.instance)} is not a {_lower_first(title)}" if title else \
        f"{_shown(error.instance)} is not allowed here"
    close = difflib.get_close_matches(error.instance, [str(a) for a in allowed], n=1) \
        if isinstance(error.instance, str) else []
    if close:
        return f"{head}; did you mean '{close[0]}'? Allowed: {shown}"
    return f"{head}; use one of: {shown}"


def _pattern_message(error: ValidationError) -> str:
    hint = _description(error)
    what = _lower_first(_schema(error).get("title", "value"))
    return f"{_shown(error.instance)} is not a valid {what}" + (f": {hint}" if hint else "")


def _range_message(error: ValidationError, path: list) -> str:
    bound = error.validator_value
    validator = error.validator
    what = _where(path) or "the file"
    if validator == "minItems":
        return f"{what} is empty: give at least one item" if bound == 1 else \
            f"{what} needs at least {bound} items"
    if validator == "maxItems":
        return f"{what} has more than {bound} items"
    if validator == "minLength":
        return f"{what} is empty: write the text" if bound == 1 else \
            f"{what} needs at least {bound} characters"
    if validator == "maxLength":
        return f"{what} is longer than {bound} characters"
    if validator in ("minProperties", "maxProperties"):
        most = "at least" if validator == "minProperties" else "at most"
        return f"{what} needs {most} {bound} keys"
    return f"{what} is out of range: {error.message}"


def _alternatives(doc: YamlDocument, error: ValidationError) -> Iterable[Diagnostic]:
    """One message for an anyOf/oneOf instead of one per alternative.

    When an alternative accepts the value's type, its most relevant problem is the message;
    otherwise the message names the forms that would fit.
    """
    by_alternative: dict[str | int, list[ValidationError]] = {}  # by index in anyOf/oneOf
    for sub in error.context or ():
        by_alternative.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [subs for subs in by_alternative.values()
               if not any(e.validator == "type" and not e.relative_path for e in subs)]
    if fitting:
        yield from _diagnostics(doc, best_match(e for subs in fitting for e in subs))
        return
    options = [_lower_first(alt["title"]) if alt.get("title")
               else _TYPE_WORDS.get(str(alt.get("type")), "another form")
               for alt in _json(error.validator_value)]
    pointer = _pointer(list(error.absolute_path))
    yield Diagnostic("schema.type", f"{_shown(error.instance)} does not fit here; write "
                     f"{' or '.join(dict.fromkeys(options))}", doc.span(pointer))


# -- wording ------------------------------------------------------------------------------------


def _pointer(path: list) -> str:
    pointer = ""
    for part in path:
        pointer = pointer_join(pointer, part)
    return pointer


def _where(path: list) -> str:
    """The thing at `path`, in words: "product 'x'", "section 2", "`policy`"."""
    if not path:
        return ""
    last = path[-1]
    parent = path[-2] if len(path) >= 2 else None
    if isinstance(last, int):
        if str(parent) in _ITEM_NOUNS:
            return f"{_ITEM_NOUNS[str(parent)]} {last + 1}"
        return f"`{parent}` item {last + 1}" if isinstance(parent, str) else f"item {last + 1}"
    if parent == "approve" and last == "requested":  # `approve: {requested: [ids]}`
        return "`requested`"
    if parent is not None and str(parent) in _ITEM_NOUNS:
        return f"{_ITEM_NOUNS[str(parent)]} '{last}'"
    return f"`{last}`"


def _description(error: ValidationError) -> str:
    return _sentence(_schema(error).get("description", ""))


def _schema(error: ValidationError) -> dict[str, Any]:
    """The schema the error is about ({} for a boolean schema, which has no words)."""
    return error.schema if isinstance(error.schema, dict) else {}


def _json(value: object) -> Any:
    """An error's `instance` or `validator_value`: JSON data. The stubs allow jsonschema's Unset
    placeholder as well, which only errors built by hand carry, never a validator's."""
    return cast(Any, value)


def _sentence(text: str) -> str:
    return _lower_first(text).rstrip(".")


def _lower_first(text: str) -> str:
    """"Date" → "date" and "A channel" → "a channel", but "NDC-11" stays as it is."""
    word = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if len(word) == 1 or word[1:].islower() else text


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, (dict, list)):
        return _TYPE_WORDS[_json_type(value)]
    return json.dumps(value)


def _source_text(doc: YamlDocument, pointer: str) -> str:
    span: Span = doc.span(pointer)
    if span.line != span.end_line:
        return doc.source.line_text(span.line)[span.col - 1:].strip()
    return doc.source.line_text(span.line)[span.col - 1:span.end_col - 1]
