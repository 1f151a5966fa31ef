"""Check a whole audit log: the chain link by link, then every settlement it records.

Returns a report naming the first bad entry; reading the log (Kafka or a JSONL export) is the
caller's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.audit import AuditBody, SettledInputs, Stage
from services.audit.adapters import NotAnEntry, entry_of
from services.audit.domain import Chain, ChainBroken, Head, extend
from services.audit.recompute import check_closed, check_statement


@dataclass(frozen=True)
class Report:
    entries: int
    head: Head
    settled: int
    closed: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _where(b: AuditBody) -> str:
    return f"entry at position {b.seq} (seq {b.seq}, {b.stage.value}, order {b.order_id})"


def verify_log(records: Sequence[bytes | None], expect_head: str | None = None) -> Report:
    """The chain from its first record, each statement's settled entries recomputed, each
    closed entry matched to its settlement; reports the earliest problem. `expect_head`: the
    hash the last entry must have (a head noted elsewhere catches a log rewritten from some
    entry on, or cut short)."""
    chain = Chain()
    problems: list[tuple[int, str]] = []
    for position, raw in enumerate(records):
        try:
            extend(chain, position, entry_of(position, raw))
        except (NotAnEntry, ChainBroken) as exc:
            problems.append((position, str(exc)))
            break
    bodies = chain.bodies
    statements: dict[str, list[AuditBody]] = {}
    for b in bodies:
        if b.stage == Stage.SETTLED:
            sid = SettledInputs.model_validate(b.inputs).statement_id
            statements.setdefault(sid, []).append(b)
        elif b.stage == Stage.CLOSED:
            found = check_closed(b, [x for x in bodies if x.seq < b.seq])
            if found:
                problems.append((b.seq, f"{_where(b)}: {'; '.join(found)}"))
    for group in statements.values():
        bad = check_statement(group)
        if bad is not None:
            problems.append((bad[0].seq, (f"{_where(bad[0])}: settlement does not recompute: "
                                         f"{bad[1]}")))
    if not problems and expect_head is not None and chain.head.hash != expect_head:
        problems.append((len(bodies), (f"head is {chain.head.hash}, expected {expect_head}: "
                                      "entries were removed from the end or the log rewritten")))
    settled = sum(len(g) for g in statements.values())
    closed = sum(1 for b in bodies if b.stage == Stage.CLOSED)
    problem = min(problems)[1] if problems else None
    return Report(len(bodies), chain.head, settled, closed, problem)
