"""Check Beckn v2.0.0-rc messages against the official OpenAPI schemas, fully offline.

The schemas are the vendored upstream files under ``vendor/`` (see ``vendor/SOURCES.md``),
registered under the remote URIs that ``beckn.yaml`` ``$ref``s, so nothing is ever fetched.
How it works and what it does not check: ``docs/beckn-conformance.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "BECKN_API_URI",
    "CHECKED_FORMATS",
    "CORE_111_TRANSACTION_URI",
    "CORE_V2_ATTRIBUTES_URI",
    "BecknSchemaError",
    "beckn_errors",
    "offline_registry",
    "supported_actions",
    "validate_beckn",
]

BECKN_API_URI = (
    "https://raw.githubusercontent.com/beckn/protocol-specifications-v2/"
    "refs/tags/core-2.0.0-rc-eos-release/api/beckn.yaml"
)
CORE_V2_ATTRIBUTES_URI = (
    "https://raw.githubusercontent.com/beckn/protocol-specifications-v2/"
    "refs/tags/core-2.0.0-rc-eos-release/schema/core/v2/attributes.yaml"
)
CORE_111_TRANSACTION_URI = (
    "https://raw.githubusercontent.com/beckn/protocol-specifications/"
    "refs/heads/master/api/transaction/build/transaction.yaml"
)

# Remote URI -> vendored file (relative to contracts/beckn/vendor). beckn.yaml itself is never
# $ref'd remotely; it gets its upstream raw URL so its own "#/..." refs have a base URI.
VENDORED: Mapping[str, str] = {
    BECKN_API_URI: "beckn.yaml",
    CORE_V2_ATTRIBUTES_URI: "attributes.yaml",
    CORE_111_TRANSACTION_URI: "transaction.yaml",
}

# Operations in beckn.yaml that are not /beckn/<action>: the path does not spell the action.
_IRREGULAR_PATHS: Mapping[str, str] = {
    "/beckn/catalog/publish": "catalog_publish",
    "/beckn/catalog/on_publish": "on_catalog_publish",
}

_RFC3339_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))"
)
# RFC 3986 "URI" (absolute, scheme required): scheme ":" then only characters that may appear
# in a URI, with "%" only as a percent-encoding. No IRIs (non-ASCII), no spaces.
_RFC3986_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*"
)


def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = _RFC3339_DATE_TIME.fullmatch(instance)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset_h = int(match.group(9) or 0)
    offset_m = int(match.group(10) or 0)
    if offset_h > 23 or offset_m > 59:
        return False
    try:  # second 60 is a leap second: RFC 3339 allows it, datetime does not
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60


def _is_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return _is_date_time("1970-01-01T" + instance)


def _is_date(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", instance) is None:
        return False
    try:
        date.fromisoformat(instance)
    except ValueError:
        return False
    return True


def _is_uri(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return _RFC3986_URI.fullmatch(instance) is not None


def _format_checker() -> FormatChecker:
    """Formats asserted, independent of which optional format libraries happen to be installed."""
    checker = FormatChecker(formats=("uuid", "email"))  # jsonschema built-ins, no extra deps
    checker.checks("date-time")(_is_date_time)
    checker.checks("time")(_is_time)
    checker.checks("date")(_is_date)
    checker.checks("uri")(_is_uri)
    return checker


CHECKED_FORMATS: frozenset[str] = frozenset(_format_checker().checkers)


class BecknSchemaError(ValueError):
    """A message violates the official Beckn schema; ``errors`` lists every violation."""

    def __init__(self, action: str | None, errors: list[str]) -> None:
        self.action = action
        self.errors = errors
        head = f"Beckn {action or '<no action>'} message violates the schema"
        super().__init__(f"{head} ({len(errors)} error(s)):\n" + "\n".join(errors))


def _offline(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=f"{uri} (not vendored; conformance checks never fetch)")


@cache
def _documents() -> dict[str, Any]:
    vendor = files("contracts.beckn") / "vendor"
    return {uri: yaml.safe_load((vendor / rel).read_text("utf-8")) for uri, rel in VENDORED.items()}


@cache
def offline_registry() -> Registry[Any]:
    """The vendored documents under their remote URIs; any other URI raises, never fetches."""
    resources = [
        (uri, Resource.from_contents(doc, default_specification=DRAFT202012))
        for uri, doc in _documents().items()
    ]
    return Registry(retrieve=_offline).with_resources(resources).crawl()


def _pointer_token(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _operations() -> dict[str, str]:
    """Action -> JSON pointer (in beckn.yaml) of its ``application/json`` request body schema."""
    operations: dict[str, str] = {}
    for path, item in _documents()[BECKN_API_URI]["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None or "schema" not in body:
                continue
            action = _IRREGULAR_PATHS.get(path, path.removeprefix("/beckn/"))
            if "/" in action or action in operations:
                raise RuntimeError(f"beckn.yaml: cannot map {method.upper()} {path} to one action")
            operations[action] = "/".join(
                (
                    "#",
                    "paths",
                    _pointer_token(path),
                    method,
                    "requestBody",
                    "content",
                    _pointer_token("application/json"),
                    "schema",
                )
            )
    return operations


@cache
def _validators() -> dict[str, Draft202012Validator]:
    registry = offline_registry()
    checker = _format_checker()
    return {
        action: Draft202012Validator(
            {"$ref": BECKN_API_URI + pointer}, registry=registry, format_checker=checker
        )
        for action, pointer in _operations().items()
    }


def supported_actions() -> frozenset[str]:
    """Every ``context.action`` for which beckn.yaml defines a request body schema."""
    return frozenset(_validators())


def _message(error: ValidationError, limit: int = 240) -> str:
    """jsonschema's message, with a long echoed instance replaced by its JSON type."""
    text = error.message
    shown = repr(error.instance)
    if len(shown) > 60 and text.startswith(shown):
        kind = {dict: "object", list: "array", str: "string"}.get(type(error.instance), "value")
        text = f"<{kind}>{text[len(shown) :]}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _order(error: ValidationError) -> tuple[str, list[str]]:
    return error.json_path, [str(p) for p in error.schema_path]


def _describe(error: ValidationError, branch: str) -> Iterator[str]:
    where = error.json_path + (f" [{branch}]" if branch else "")
    if error.context:
        keyword = str(error.validator)
        yield f"{where}: not valid under any {keyword} alternative (details follow per alternative)"
        for sub in sorted(error.context, key=lambda e: (str(e.schema_path[0]), *_order(e))):
            label = f"{keyword}[{sub.schema_path[0]}]"
            yield from _describe(sub, f"{branch} {label}".strip())
    else:
        yield f"{where}: {_message(error)}"


def _action_of(doc: object, action: str | None) -> tuple[str | None, list[str]]:
    if not isinstance(doc, Mapping):
        return action, [f"$: message must be a JSON object, got {type(doc).__name__}"]
    if action is None:
        context = doc.get("context")
        if not isinstance(context, Mapping):
            return None, ["$.context: missing or not an object; cannot choose a schema"]
        action = context.get("action")
        if not isinstance(action, str):
            return None, ["$.context.action: missing or not a string; cannot choose a schema"]
    if action not in _validators():
        known = ", ".join(sorted(_validators()))
        return action, [f"$.context.action: unknown action {action!r}; beckn.yaml defines {known}"]
    return action, []


def beckn_errors(doc: Mapping[str, Any], *, action: str | None = None) -> list[str]:
    """Every schema violation in ``doc`` as ``"<JSON path>: <message>"``; empty when valid.

    The schema is the request body of the beckn.yaml operation for ``doc["context"]["action"]``,
    or for ``action`` when given (then a different ``context.action`` is itself a violation).
    """
    action, errors = _action_of(doc, action)
    if errors or action is None:
        return errors
    found = _validators()[action].iter_errors(doc)
    ordered = sorted(found, key=_order)
    return list(dict.fromkeys(line for error in ordered for line in _describe(error, "")))


def validate_beckn(doc: Mapping[str, Any], *, action: str | None = None) -> None:
    """Raise ``BecknSchemaError`` unless ``doc`` conforms (see ``beckn_errors``)."""
    errors = beckn_errors(doc, action=action)
    if errors:
        if action is None and isinstance(doc, Mapping):
            context = doc.get("context")
            named = context.get("action") if isinstance(context, Mapping) else None
            action = named if isinstance(named, str) else None
        raise BecknSchemaError(action, errors)
