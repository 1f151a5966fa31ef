"""Check a whole audit log: the chain link by link, then every settlement it records.

Returns a report naming the first bad entry; reading the log (Kafka or a JSONL export) is the
caller's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.audit import Stage
from services.audit.adapters import NotAnEntry, entry_of
from services.audit.domain import Chain, ChainBroken, Head, extend
from services.audit.recompute import check_closed, check_settled


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


def verify_log(records: Sequence[bytes | None], expect_head: str | None = None) -> Report:
    """The chain from its first record, each settled entry recomputed, each closed entry matched
    to its settlement; stops at the first problem. `expect_head`: the hash the last entry must
    have (a head noted elsewhere catches a log rewritten from some entry on)."""
    chain = Chain()
    settled = closed = 0

    def report(problem: str | None) -> Report:
        return Report(len(chain.bodies), chain.head, settled, closed, problem)

    for position, raw in enumerate(records):
        try:
            entry = entry_of(position, raw)
            extend(chain, position, entry)
        except (NotAnEntry, ChainBroken) as exc:
            return report(str(exc))
        body = chain.bodies[-1]
        where = f"entry at position {position} (seq {body.seq}, {body.stage.value}, " \
                f"order {body.order_id})"
        if body.stage == Stage.SETTLED:
            problems = check_settled(body)
            settled += 1
        elif body.stage == Stage.CLOSED:
            problems = check_closed(body, chain.bodies[:-1])
            closed += 1
        else:
            problems = []
        if problems:
            return report(f"{where}: settlement does not recompute: {'; '.join(problems)}")
    if expect_head is not None and chain.head.hash != expect_head:
        return report(f"head is {chain.head.hash}, expected {expect_head}: entries were "
                      f"removed from the end or the log was rewritten")
    return report(None)
