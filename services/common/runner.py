"""The one consume loop: decode -> dispatch to a pure handler -> produce, await acks -> commit.

Failures never crash the loop: the record goes to `dlq.<service>` with the source topic,
partition, offset and reason in headers; the first few dead letters per reason in each interval
are logged in full, the rest counted in one summary line (throttle.py). Every message id is
deduplicated. At start-up each assigned partition's records below the group's committed offset
are re-read, in production order across partitions, to rebuild in-memory state with their
outputs suppressed (they were already produced and acknowledged before the commit); live
consumption resumes at the commit.

Scale-out: a service whose decisions need records from partitions another instance of its group
owns names those topics `shared`. Every instance then also reads the partitions of those topics
it does not own, up to the group's committed offsets (records whose outputs the owner has
already had acknowledged), with outputs suppressed; it produces and commits only for its own.
On a rebalance a new owner applies what it has not yet seen up to the commit, then goes live.

A service whose outputs depend on records from several instances' partitions may also `follow`
topics (typically its own output: the record of what was published) to their end, outside the
group, and name the outputs it `owes` that no input record of its own will trigger; the runner
sends those after each start-up replay and after each round of following.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Generic, NamedTuple, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner

from contracts.beckn.models import BecknMessage
from contracts.topics import Topic, dead_letter_topic
from services.common.beckn_auth import beckn_auth
from services.common.codec import Decoded, DecodeError, Message, decode, encode
from services.common.delivery import close_quietly, passing, start_producer
from services.common.kafka_security import kafka_client_kwargs
from services.common.metrics import StreamMetrics
from services.common.settings import ServiceSettings
from services.common.signing import SignatureRejected
from services.common.throttle import LogThrottle

log = logging.getLogger(__name__)

S = TypeVar("S")
_NOTHING: frozenset[str] = frozenset()


class Inbound(NamedTuple):
    """One decoded input record (a tuple: built once per record on the hot path)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    kind: str
    message_id: str
    value: Message
    timestamp_ms: int
    replay: bool = False
    """True while state is rebuilt at start-up (outputs suppressed; side effects already done)."""


@dataclass(frozen=True)
class Out:
    topic: Topic
    key: str
    value: Message


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    headers: list[tuple[str, bytes]]


class _Record(NamedTuple):
    """One output as sent to the producer (kept to send it again if it is given up)."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]] | None


Handler = Callable[[S, Inbound], Sequence[Out]]
def ignore(state: object, message: Inbound) -> Sequence[Out]:
    """For record types a service reads on a shared topic but has no business with."""
    return []


Observer = Callable[[Out], None]
"""Sees every output once it is acknowledged (a service's domain metrics live here)."""

Owed = Callable[[S], Sequence[Out]]
"""Outputs the state owes that no input record will trigger (returned once, then forgotten)."""


class HandlerRejected(ValueError):
    """A handler's way to refuse a message it cannot act on (goes to the dead-letter topic)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Dedupe:
    """Remembers the last `capacity` message ids."""

    def __init__(self, capacity: int = 2_000_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, message_id: str) -> bool:
        """Remember the id; False when it was already there."""
        if self.seen(message_id):
            return False
        self.remember(message_id)
        return True

    def seen(self, message_id: str) -> bool:
        return message_id in self._seen

    def remember(self, message_id: str) -> None:
        """Called once a message was handled: a failed one may be sent again, corrected."""
        self._seen[message_id] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)


class _Timings:
    """Handler durations of one batch, added to the histogram once per batch (each record still
    counts as one observation in its bucket)."""

    def __init__(self, hist: Any) -> None:
        self._hist = hist
        self._bounds: list[float] = list(getattr(hist, "_upper_bounds", ()))
        self._direct = bool(self._bounds) and hasattr(hist, "_buckets") and hasattr(hist, "_sum")
        self._counts = [0] * len(self._bounds)
        self._values: list[float] = []
        self._sum = 0.0

    def add(self, seconds: float) -> None:
        if self._direct:
            self._counts[bisect_left(self._bounds, seconds)] += 1
            self._sum += seconds
        else:
            self._values.append(seconds)

    def flush(self) -> None:
        if self._direct:
            if self._sum or any(self._counts):
                self._hist._sum.inc(self._sum)
                for i, n in enumerate(self._counts):
                    if n:
                        self._hist._buckets[i].inc(n)
                        self._counts[i] = 0
                self._sum = 0.0
            return
        for v in self._values:
            self._hist.observe(v)
        self._values.clear()


def _names(tps: Any) -> str:
    return " ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)) or "-"


class _Rewind(ConsumerRebalanceListener):
    def __init__(self, runner: Runner[Any]) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:  # noqa: D102
        log.info("partitions revoked: %s", _names(revoked))
        try:
            await self._runner.flush_commit()
        except Exception:  # the records are handled again by the next owner, deduplicated
            log.warning("last commit before the rebalance failed", exc_info=True)
        async with self._runner._state_lock:  # outputs sent while following are acked first
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:  # noqa: D102
        log.info("partitions assigned: %s", _names(assigned))
        await self._runner._rewind(list(assigned))


class Runner(Generic[S]):
    """Runs one service: its state, its handler registry, its Kafka clients."""

    def __init__(
        self,
        settings: ServiceSettings,
        state: S,
        handlers: Mapping[str, Handler[S]],
        consumes: Sequence[Topic],
        metrics: StreamMetrics,
        *,
        consumer: AIOKafkaConsumer | None = None,
        producer: AIOKafkaProducer | None = None,
        observe: Observer | None = None,
        shared: Sequence[Topic] = (),
        shared_poll_s: float = 0.05,
        log_clock: Callable[[], float] = time.monotonic,
        follow: Sequence[Topic] = (),
        owed: Owed[S] | None = None,
        resend_backoff_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.state = state
        self.handlers = handlers
        self.consumes = consumes
        self.metrics = metrics
        self.dedupe = Dedupe()
        self._consumer = consumer
        self._producer = producer
        self._observe = observe
        self._allowed = {settings.topic(t.name): frozenset(t.types) for t in (*consumes, *follow)}
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._tally: dict[tuple[str, str, str], int] = {}
        self._timings = _Timings(metrics.handler_seconds)
        self._commit: asyncio.Future[Any] | None = None
        self._stopping = asyncio.Event()
        self._restored = asyncio.Event()
        """Set once state is rebuilt after an assignment: the consumer may already hold live
        records fetched from the committed offsets while the rebalance listener is still
        re-reading (found by tests/reliability: a restarted load-shifter dead-lettered the stress
        event as `unknown_site` because it came in before the sites were re-read)."""
        self.ready = False
        self.auth = beckn_auth(settings, metrics.registry)  # None: Beckn signing is off
        self._verified_topics = self.auth.topics if self.auth is not None else frozenset()
        self._signs = self.auth is not None and self.auth.signs
        self._shared = frozenset(settings.topic(t.name) for t in shared)
        self._shared_poll_s = shared_poll_s
        self._resend_backoff_s = resend_backoff_s
        self._owned_producer: AIOKafkaProducer | None = None
        """The producer the runner built (and may replace); None while it uses one passed in."""
        self._applied: dict[TopicPartition, int] = {}
        """Next offset of each partition already applied to the state (owned or not)."""
        self._state_lock = asyncio.Lock()
        self._dead_log = LogThrottle(settings.dead_letter_log_burst,
                                     settings.dead_letter_log_interval_s, log_clock)
        """Every dead letter is produced and counted; only its log line is rate-limited."""
        self._follow = tuple(settings.topic(t.name) for t in follow)
        self._follower: AIOKafkaConsumer | None = None
        self._owed = owed
        self._fatal: BaseException | None = None

    def owns(self, topic: Topic, key: str) -> bool:
        """Whether this instance is now assigned the partition of consumed `topic` that records
        keyed `key` go to (the producers' default partitioner)."""
        if self._consumer is None:
            return False
        name = self.settings.topic(topic.name)
        parts = sorted(self._consumer.partitions_for_topic(name) or ())
        if not parts:
            return False
        p = DefaultPartitioner()(key.encode(), parts, parts)
        return TopicPartition(name, p) in self._consumer.assignment()

    def stop(self) -> None:
        """Finish the current batch, commit, close (SIGTERM lands here)."""
        self._stopping.set()

    async def _rewind(self, assigned: list[TopicPartition]) -> None:
        """Rebuild in-memory state from what this group already handled, then go live.

        The records below the committed offsets are re-read with a group-less consumer and
        handled in their original production order across partitions (record timestamp),
        outputs suppressed; the group consumer then resumes at the committed offsets.
        """
        assert self._consumer is not None
        self._restored.clear()
        async with self._state_lock:
            until: dict[TopicPartition, int] = {}
            for tp in assigned:
                committed = await self._consumer.committed(tp)
                if committed and committed > self._applied.get(tp, 0):
                    until[tp] = committed
            await self._apply_below(until)
            try:
                if self._follower is not None:
                    await self._follow_to_end()
                await self._send_owed()
            except Exception as exc:  # noqa: BLE001 - raised out of run(), like a failed produce
                self._fail(exc)
        self.ready = True
        self.metrics.ready.set(1)
        self._restored.set()

    async def _apply_below(self, until: dict[TopicPartition, int]) -> None:
        """Apply (outputs suppressed) each partition's records from what is applied to `until`."""
        if not until:
            return
        records = await self._read_below(until, self._applied)
        records.sort(key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
        for rec in records:
            self.metrics.replayed.labels(rec.topic).inc()
            self._process(rec, replay=True)
        self._flush_counts()
        for tp, offset in until.items():
            self._applied[tp] = max(self._applied.get(tp, 0), offset)

    async def _shared_loop(self) -> None:
        """Follow the shared topics' partitions this instance does not own, up to the group's
        committed offsets (the owner's outputs for them are acknowledged), and the followed
        topics to what has arrived; then send what is owed."""
        assert self._consumer is not None
        tps: list[TopicPartition] = []
        while self._shared and not tps and not self._stopping.is_set():
            tps = [TopicPartition(t, p) for t in sorted(self._shared)
                   for p in sorted(self._consumer.partitions_for_topic(t) or ())]
            if not tps:
                await asyncio.sleep(self._shared_poll_s)
        while not self._stopping.is_set():
            try:
                async with self._state_lock:
                    owned = self._consumer.assignment()
                    others = [tp for tp in tps if tp not in owned]
                    offsets = await self._committed(others)
                    until = {tp: c for tp, c in offsets.items()
                             if c > self._applied.get(tp, 0)}
                    await self._apply_below(until)
                    if self._follower is not None:
                        self._apply_followed(await self._follower.getmany(timeout_ms=0))
                    try:
                        await self._send_owed()
                    except Exception as exc:  # noqa: BLE001 - raised out of run()
                        self._fail(exc)
                        return
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round retries; the owner's work is unaffected
                log.warning("following the shared partitions failed", exc_info=True)
            await asyncio.sleep(self._shared_poll_s)

    def _fail(self, exc: BaseException) -> None:
        log.error("following or sending owed outputs failed: stopping", exc_info=exc)
        self._fatal = exc
        self._stopping.set()

    async def _start_follower(self) -> AIOKafkaConsumer:
        """A group-less reader of every partition of the followed topics, from the start."""
        s = self.settings
        f = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id=f"{s.service_name}-follow",
                             **kafka_client_kwargs(s))
        await f.start()
        try:
            cluster = await f._client.fetch_all_metadata()  # unsubscribed topics too
            missing = [t for t in self._follow if not cluster.partitions_for_topic(t)]
            if missing:
                raise RuntimeError(f"followed topics do not exist: {missing}")
            tps = [TopicPartition(t, p) for t in self._follow
                   for p in sorted(cluster.partitions_for_topic(t) or ())]
            f.assign(tps)
            await f.seek_to_beginning(*tps)
        except BaseException:
            await f.stop()
            raise
        return f

    def _apply_followed(self, batch: Mapping[TopicPartition, list[Any]]) -> None:
        for recs in batch.values():
            for rec in recs:
                self.metrics.replayed.labels(rec.topic).inc()
                self._process(rec, replay=True)
        if batch:
            self._flush_counts()

    async def _follow_to_end(self, timeout_s: float = 120) -> None:
        """Apply every record now on the followed topics (outputs suppressed)."""
        f = self._follower
        assert f is not None
        tps = list(f.assignment())
        ends = await f.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while True:
            left = [tp for tp in tps if await f.position(tp) < ends[tp]]
            if not left:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"following did not reach the end in {timeout_s:.0f} s")
            self._apply_followed(await f.getmany(*left, timeout_ms=200, max_records=10_000))

    async def _send_owed(self) -> None:
        """Send what the state owes and await the acks (no offsets to commit: no record asked)."""
        if self._owed is None:
            return
        outs = list(self._owed(self.state))
        if not outs:
            return
        sends: list[asyncio.Future[Any]] = []
        outbox: list[_Record] = []
        for out in outs:
            outbox.append(_Record(self.settings.topic(out.topic.name), encode(out.value),
                                  out.key.encode(), None))
            sends.append(await self._send_when_room(outbox[-1]))
        await self._deliver(sends, outbox)
        for rec in outbox:
            self.metrics.produced.labels(rec.topic).inc()
        log.info("sent %d owed output(s)", len(outs))
        self._observe_acked(outs)

    def _observe_acked(self, outs: Sequence[Out]) -> None:
        """Show acknowledged outputs to the service's observer (its domain metrics)."""
        if self._observe is None:
            return
        for out in outs:
            try:
                self._observe(out)
            except Exception:  # metrics must never stop the stream
                log.exception("metrics observer failed on %s", out.topic.name)

    async def _committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets of partitions (assigned or not), in one request."""
        if not tps:
            return {}
        coordinator = self._consumer._coordinator  # type: ignore[union-attr]  # noqa: SLF001
        got = await coordinator.fetch_committed_offsets(tps)
        return {tp: meta.offset for tp, meta in got.items() if meta.offset >= 0}

    async def _read_below(self, until: dict[TopicPartition, int],
                          start: Mapping[TopicPartition, int] | None = None,
                          timeout_s: float = 120) -> list[Any]:
        """Every record from `start` (default: the beginning) below `until` on each partition
        (a group-less reader)."""
        reader = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap_servers,
                                  enable_auto_commit=False, auto_offset_reset="earliest",
                                  client_id=f"{self.settings.service_name}-restore",
                                  **kafka_client_kwargs(self.settings))
        await reader.start()
        try:
            tps = list(until)
            reader.assign(tps)
            ends = await reader.end_offsets(tps)
            await reader.seek_to_beginning(*tps)
            for tp in tps:
                if start and start.get(tp, 0) > 0:
                    reader.seek(tp, start[tp])
            left = {tp: min(until[tp], ends[tp]) for tp in tps}
            out: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while True:
                for tp in list(left):
                    if await reader.position(tp) >= left[tp]:
                        reader.pause(tp)
                        del left[tp]
                if not left:
                    return out
                if time.monotonic() > deadline:
                    raise TimeoutError(f"state restore did not finish in {timeout_s:.0f} s: "
                                       f"{sorted(str(tp) for tp in left)}")
                batch = await reader.getmany(*left, timeout_ms=200, max_records=10_000)
                for tp, recs in batch.items():
                    out.extend(r for r in recs if r.offset < left.get(tp, 0))
        finally:
            await reader.stop()

    def _count(self, topic: str, kind: str, outcome: str) -> None:
        """Tallied per record, added to the counters once per batch (`_flush_counts`)."""
        key = (topic, kind, outcome)
        self._tally[key] = self._tally.get(key, 0) + 1

    def _flush_counts(self) -> None:
        self._timings.flush()
        for key, n in self._tally.items():
            child = self._counters.get(key)
            if child is None:
                child = self._counters[key] = self.metrics.consumed.labels(*key)
            child.inc(n)
        self._tally.clear()

    def _process(self, rec: Any, replay: bool) -> tuple[str, list[Out | DeadLetter]]:
        """Decode and dispatch one record; returns its type and outputs, or a dead letter."""
        topic = rec.topic
        kind = "unknown"
        beckn_code: str | None = None
        error: Exception | None = None
        try:
            decoded: Decoded = decode(rec.value)
            kind = decoded.kind
            handler = self.handlers.get(kind)
            if handler is None or kind not in self._allowed.get(topic, _NOTHING):
                raise HandlerRejected("unexpected_type", f"{kind} is not handled on {topic}")
            if topic in self._verified_topics:  # signed Beckn traffic (beckn_auth.py)
                assert self.auth is not None and isinstance(decoded.value, BecknMessage)
                self.auth.verify(rec.value, rec.headers, decoded.value, rec.timestamp,
                                 self.dedupe.seen(decoded.message_id))
            if self.dedupe.seen(decoded.message_id):
                self._count(topic, kind, "duplicate")
                return kind, []
            inbound = Inbound(topic, rec.partition, rec.offset, rec.key, kind,
                              decoded.message_id, decoded.value, rec.timestamp, replay)
            t0 = perf_counter()
            outs: list[Out | DeadLetter] = list(handler(self.state, inbound))
            self.dedupe.remember(decoded.message_id)
            self._timings.add(perf_counter() - t0)
            key = (topic, kind, "replayed" if replay else "ok")
            self._tally[key] = self._tally.get(key, 0) + 1
            return kind, outs
        except (DecodeError, HandlerRejected) as exc:
            reason, detail = exc.reason, exc.detail
        except SignatureRejected as exc:  # unsigned, forged, expired or replayed Beckn record
            reason, detail, beckn_code = exc.reason, exc.detail, exc.code
        except Exception as exc:  # a handler bug must not kill the service; it is dead-lettered
            reason, detail, error = "handler_error", f"{type(exc).__name__}: {exc}"[:500], exc
        self._count(topic, kind, "dead_letter")
        if replay:  # its dead letter was produced before the commit; a handler bug still shows
            if error is not None and self._dead_log.admit(reason):
                log.error("handler failed on %s[%d]@%d while rebuilding state", topic,
                          rec.partition, rec.offset, exc_info=error)
            return kind, []
        self.metrics.dead_letters.labels(reason).inc()
        if self._dead_log.admit(reason):  # handler bugs at error level, with their traceback
            log.log(logging.WARNING if error is None else logging.ERROR,
                    "dead letter %s[%d]@%d: %s: %s", topic, rec.partition, rec.offset, reason,
                    detail, exc_info=error)
        headers = [
            ("dlq.source.topic", topic.encode()),
            ("dlq.source.partition", str(rec.partition).encode()),
            ("dlq.source.offset", str(rec.offset).encode()),
            ("dlq.reason", reason.encode()),
            ("dlq.error", detail.encode("utf-8", "replace")[:2000]),
        ]
        if beckn_code is not None:
            headers.append(("dlq.beckn.error.code", beckn_code.encode()))
        return kind, [DeadLetter(rec.key, headers)]

    async def _deliver(self, sends: list[asyncio.Future[Any]], records: list[_Record]) -> None:
        """Await every output's acknowledgement. Outputs the producer gave up on for a
        passing reason are sent again, the same bytes, key and headers, by a new producer, until
        acknowledged; nothing is committed before.

        aiokafka's idempotent producer retries a sent batch for ever, but fails a batch still
        waiting for a partition leader after `request_timeout_ms`: a producer that saw the
        broker's controlled shutdown (leader -1) while the broker then stays away that long.
        The failed batch leaves a gap in the producer's sequence numbers, which aiokafka does
        not reset, so the broker refuses its next batch for the partition
        (OutOfOrderSequenceNumber): a producer with a new id sends them instead. Found by
        tests/integration/test_runner_broker_restart.py; before, the service exited.

        A copy that did land before is dropped by its readers' message-id dedupe (a Beckn one
        dead-lettered as a replay). A re-sent output can land after a later output of the same
        batch on its partition. On SIGTERM during an outage the error is raised: the batch is
        not committed, and its records are handled again by the next owner.
        """
        try:
            await asyncio.gather(*sends)
            return
        except KafkaError:
            pass
        while True:
            results = await asyncio.gather(*sends, return_exceptions=True)
            failed = [(rec, r) for rec, r in zip(records, results, strict=True)
                      if isinstance(r, BaseException)]
            if not failed:
                return
            for _, err in failed:
                if self._stopping.is_set() or self._owned_producer is None \
                        or not passing(err):
                    raise err
            log.warning("%d of %d outputs not acknowledged (%s); sending them again with a "
                        "new producer", len(failed), len(records),
                        ", ".join(sorted({type(e).__name__ for _, e in failed})))
            await asyncio.sleep(self._resend_backoff_s)
            await self._renew_producer()
            records = [rec for rec, _ in failed]
            sends = []
            for rec in records:
                self.metrics.produce_retries.labels(rec.topic, "given_up").inc()
                sends.append(await self._send_when_room(rec))

    def _new_producer(self) -> AIOKafkaProducer:
        s = self.settings
        return AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=True,
            linger_ms=2, client_id=f"{s.service_name}-producer",
            request_timeout_ms=s.producer_request_timeout_ms, **kafka_client_kwargs(s))

    async def _renew_producer(self) -> None:
        """Replace the producer (all its sends are settled) by one with a new producer id,
        started once the broker answers again."""
        old = self._producer
        self._producer = self._owned_producer = await start_producer(
            self._new_producer, self._resend_backoff_s, self._stopping)
        if old is not None:
            await close_quietly(old)

    async def _send_when_room(self, rec: _Record) -> asyncio.Future[Any]:
        """`producer.send`, tried again while it times out: the partition's buffer stays full
        because the broker is away (aiokafka waits `request_timeout_ms` for room, then raises
        KafkaTimeoutError without taking the record, so trying again cannot double it)."""
        assert self._producer is not None
        while True:
            try:
                return await self._producer.send(rec.topic, rec.value, key=rec.key,
                                                  headers=rec.headers)
            except KafkaTimeoutError:
                if self._stopping.is_set():
                    raise
                self.metrics.produce_retries.labels(rec.topic, "no_room").inc()
                log.warning("no room in the producer's buffer for %s (broker away?); waiting",
                            rec.topic)

    async def _handle_batch(self, batch: Mapping[TopicPartition, list[Any]]) -> None:
        assert self._producer is not None and self._consumer is not None
        sends: list[asyncio.Future[Any]] = []
        outbox: list[_Record] = []
        produced: list[str] = []
        acked: list[Out] = []
        answered: list[tuple[str, int]] = []
        commits: dict[TopicPartition, int] = {}
        process = self._process
        for tp, records in batch.items():
            if records:
                commits[tp] = records[-1].offset + 1
                self._applied[tp] = records[-1].offset + 1
            for rec in records:
                kind, outs = process(rec, False)
                if not outs:
                    continue
                if isinstance(outs[0], Out):
                    answered.append((kind, rec.timestamp))
                for out in outs:
                    if isinstance(out, Out):
                        acked.append(out)
                        name = self.settings.topic(out.topic.name)
                        value = encode(out.value)
                        signed = (self.auth.sign(value, out.value) if self._signs  # type: ignore[union-attr]
                                  and isinstance(out.value, BecknMessage) else None)
                        record = _Record(name, value, out.key.encode(), signed)
                    else:
                        name = self.settings.topic(dead_letter_topic(self.settings.service_name))
                        record = _Record(name, rec.value, out.key, out.headers)
                    outbox.append(record)
                    sends.append(await self._send_when_room(record))
                    produced.append(name)
        if sends:
            await self._deliver(sends, outbox)
            for name in produced:
                self.metrics.produced.labels(name).inc()
            acked_ms = time.time() * 1000
            for kind, ts in answered:
                self.metrics.response_seconds.labels(kind).observe(max(0.0, acked_ms - ts) / 1000)
            self._observe_acked(acked)
        self._flush_counts()
        if commits:
            # Every output of this batch is acknowledged: its offsets may be committed. The
            # commit is sent now and awaited before the next one (or on revoke/stop), so the
            # broker round trip overlaps the next batch's work instead of stalling the loop.
            await self.flush_commit()
            self._commit = asyncio.ensure_future(self._consumer.commit(commits))
            for tp, next_offset in commits.items():
                high = self._consumer.highwater(tp)
                if high is not None:
                    self.metrics.lag.labels(tp.topic, str(tp.partition)).set(
                        max(0, high - next_offset))

    def log_dead_letter_summary(self, force: bool = False) -> None:
        """One line for the dead letters not logged in full in the interval just over."""
        got = self._dead_log.summary(force)
        if got is not None:
            seconds, muted = got
            log.warning("dead letters not logged in the last %.0f s (first %d per reason are): %s",
                        seconds, self._dead_log.burst,
                        " ".join(f"{reason}={n}" for reason, n in muted.items()))

    async def flush_commit(self) -> None:
        """Wait for the last batch's commit (raises if it failed)."""
        pending, self._commit = self._commit, None
        if pending is not None:
            await pending

    async def run(self) -> None:
        s = self.settings
        if self._producer is None:
            self._producer = self._owned_producer = self._new_producer()
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=s.bootstrap_servers, group_id=s.group,
                enable_auto_commit=False, auto_offset_reset="earliest",
                client_id=f"{s.service_name}-consumer", fetch_max_wait_ms=50,
                max_poll_records=s.max_batch, **kafka_client_kwargs(s))
        await self._producer.start()
        try:
            if self._follow:
                self._follower = await self._start_follower()
            self._consumer.subscribe([s.topic(t.name) for t in self.consumes],
                                     listener=_Rewind(self))
            await self._consumer.start()
            follow = (asyncio.ensure_future(self._shared_loop())
                      if self._shared or self._follow else None)
            try:
                while not self._stopping.is_set():
                    batch = await self._consumer.getmany(timeout_ms=s.poll_timeout_ms,
                                                         max_records=s.max_batch)
                    if batch:
                        await self._restored.wait()
                        if follow is None:
                            await self._handle_batch(batch)
                        else:
                            async with self._state_lock:
                                await self._handle_batch(batch)
                    self.log_dead_letter_summary()
                await self.flush_commit()
            finally:
                self.log_dead_letter_summary(force=True)
                if follow is not None:
                    follow.cancel()
                    await asyncio.gather(follow, return_exceptions=True)
                pending, self._commit = self._commit, None
                if pending is not None and not pending.done():
                    pending.cancel()
                await self._consumer.stop()
        finally:
            if self._follower is not None:
                await self._follower.stop()
                self._follower = None
            await self._producer.stop()
            self.metrics.ready.set(0)
        if self._fatal is not None:
            raise self._fatal
