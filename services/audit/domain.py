"""The audit hash chain: canonical bodies, appending a link, and checking a log link by link.

Entry n: body = canonical JSON of the typed body (which carries n as `seq`), hash = SHA-256 of
(hash of entry n-1, or 64 zeros) + body. Any changed, deleted, inserted or reordered entry
breaks the link at (or right after) it; `walk` names the first one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from contracts.audit import INPUTS, AuditBody, ConfiguredInputs, Stage, dump
from contracts.events import AuditEntryAppended

GENESIS = "0" * 64


def canonical(doc: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text, floats as Python's shortest round-trip repr."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def link_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def content_hash(doc: Any) -> str:
    return hashlib.sha256(canonical(doc).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Head:
    """Where the next entry goes: its sequence number and the hash it must link to."""

    seq: int = 0
    hash: str = GENESIS


def append(head: Head, body: AuditBody) -> tuple[AuditEntryAppended, Head]:
    """The entry for `body` (its `seq` set to the head's) and the new head."""
    text = canonical(dump(body.model_copy(update={"seq": head.seq})))
    h = link_hash(head.hash, text)
    return AuditEntryAppended(seq=head.seq, prev_hash=head.hash, hash=h, body=text), Head(
        head.seq + 1, h)


class ChainBroken(ValueError):
    """The first entry that does not follow from the ones before it."""

    def __init__(self, position: int, seq: int | None, reason: str) -> None:
        where = f"entry at position {position}" + (f" (seq {seq})" if seq is not None else "")
        super().__init__(f"{where}: {reason}")
        self.position = position
        self.seq = seq
        self.reason = reason


@dataclass
class Chain:
    """A checked log: its bodies in order, its head and the configuration in force."""

    bodies: list[AuditBody] = field(default_factory=list)
    head: Head = field(default_factory=Head)
    config_hash: str | None = None

    @property
    def keys(self) -> set[str]:
        return {b.key for b in self.bodies}


def check_link(position: int, entry: AuditEntryAppended, chain: Chain) -> AuditBody:
    """The entry's typed body when it follows the chain so far; else ChainBroken."""
    head = chain.head

    def broken(reason: str) -> ChainBroken:
        return ChainBroken(position, entry.seq, reason)

    if entry.seq != head.seq:
        raise broken(f"expected seq {head.seq}: an entry is missing, inserted or out of order")
    if entry.prev_hash != head.hash:
        raise broken(f"prev_hash {entry.prev_hash[:12]}... is not the hash of the entry before "
                     f"({head.hash[:12]}...): an entry was removed, inserted or reordered")
    if link_hash(entry.prev_hash, entry.body) != entry.hash:
        raise broken("hash is not SHA-256(prev_hash + body): the entry was changed")
    try:
        doc = json.loads(entry.body)
    except json.JSONDecodeError as exc:
        raise broken(f"body is not JSON: {exc}") from exc
    if canonical(doc) != entry.body:
        raise broken("body is not canonical JSON")
    try:
        body = AuditBody.model_validate(doc)
        inputs = INPUTS[body.stage].model_validate(body.inputs)
    except ValidationError as exc:
        raise broken(f"body does not fit the schema: {exc.errors()[0]['msg']}") from exc
    if body.seq != entry.seq:
        raise broken(f"body seq {body.seq} differs from the record's seq")
    if body.stage == Stage.CONFIGURED:
        assert isinstance(inputs, ConfiguredInputs)
        if body.config_hash != content_hash(inputs.config):
            raise broken("config_hash is not the SHA-256 of the configuration it records")
    elif body.config_hash != chain.config_hash:
        raise broken("config_hash names no configuration recorded before it")
    return body


def extend(chain: Chain, position: int, entry: AuditEntryAppended) -> None:
    """Check one more entry and add it to the chain (ChainBroken if it does not follow)."""
    body = check_link(position, entry, chain)
    chain.bodies.append(body)
    chain.head = Head(entry.seq + 1, entry.hash)
    if body.stage == Stage.CONFIGURED:
        chain.config_hash = body.config_hash


def walk(entries: Iterable[AuditEntryAppended]) -> Chain:
    """The whole log checked from its first entry; ChainBroken names the first bad one."""
    chain = Chain()
    for position, entry in enumerate(entries):
        extend(chain, position, entry)
    return chain


def bodies_by_stage(bodies: Sequence[AuditBody], stage: Stage) -> list[AuditBody]:
    return [b for b in bodies if b.stage == stage]
