"""Hostile records, generated with hypothesis from a fixed seed (reproducible, no example
database): every one is bad for the topic it is sent to, so every one must be dead-lettered.

Families: raw bytes (mostly invalid UTF-8 / not JSON), invalid UTF-8 inside a JSON record, any
JSON value (deep and wide), deep nesting, huge strings, and mutations of a real record of the
topic: a required field missing, a field of the wrong JSON type, the type/action of another
topic, a timestamp that is not a timestamp (far future/past strings, numbers), a negative number
where a quantity is. Mutations keep the record otherwise valid, so the schema check is what
rejects it; each gets a fresh message id, so no dedupe can swallow it.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from services.common.codec import decode

HUGE = 200_000
"""Bytes of a huge string: big, yet its dead letter (value + headers) stays under the broker's
1 MB record limit."""

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=25)

_wrong = (st.lists(st.integers(), min_size=1, max_size=3)
          | st.dictionaries(st.text(max_size=4), st.integers(), min_size=1, max_size=2))
"""A JSON value of the wrong type for any scalar field (no field in the catalogue is any)."""

_bad_time = st.sampled_from(["9999-99-99T25:61:00Z", "0000-00-00T00:00:00Z", "yesterday",
                             "2026-13-01T00:00:00Z", "1e309", ""]) | st.integers() | _wrong


def pool(n: int, strategy: st.SearchStrategy[Any], at: int) -> list[Any]:
    """n values drawn from `strategy`, the same for the same `at` seed on every run."""
    out: list[Any] = []

    @seed(at)
    @settings(max_examples=n, database=None, derandomize=False, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(v: Any) -> None:
        out.append(v)

    collect()
    return out


def _paths(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every leaf (path, value) of a JSON document."""
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _paths(v, (*at, k))]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _paths(v, (*at, i))]
    return [(at, doc)]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


def _del(doc: Any, path: tuple[Any, ...]) -> None:
    for k in path[:-1]:
        doc = doc[k]
    del doc[path[-1]]


def _renew_id(doc: dict[str, Any], rng: random.Random) -> None:
    new = f"hostile-{rng.getrandbits(64):016x}"
    if "context" in doc and isinstance(doc["context"], dict):
        doc["context"]["message_id"] = new
    else:
        doc["id"] = new


REQUIRED_ENVELOPE = ("id", "type", "time", "source", "payload")
REQUIRED_BECKN = (("context",), ("message",), ("context", "action"), ("context", "message_id"),
                  ("context", "transaction_id"), ("context", "timestamp"))


class Hostile:
    """Bad records for each topic; `records(topic, n)` is deterministic for the same seed."""

    def __init__(self, at: int = 20261127) -> None:
        self.rng = random.Random(at)
        self.binary = pool(400, st.binary(max_size=300), at)
        self.json = pool(400, _json, at + 1)
        self.wrong = pool(200, _wrong, at + 2)
        self.times = pool(200, _bad_time, at + 3)
        self.negatives = pool(200, st.integers(max_value=-1) | st.floats(max_value=-1e-3,
                                                                          allow_nan=False,
                                                                          allow_infinity=False),
                              at + 4)
        self.texts = pool(200, st.text(min_size=1, max_size=40), at + 5)

    def records(self, topic: str, n: int, templates: dict[str, bytes],
                kinds: dict[str, set[str]]) -> list[tuple[str, bytes]]:
        """n (family, value) pairs bad on `topic`. `templates` holds a real record per topic;
        `kinds[t]` the types/actions each topic carries (to pick one from another topic)."""
        rng = self.rng
        own = templates.get(topic)
        others = [t for t in templates if t != topic and not (kinds[t] & kinds[topic])]
        out: list[tuple[str, bytes]] = []
        for i in range(n):
            fam = i % 10 if own is not None else i % 5
            if fam == 0:
                raw = rng.choice(self.binary)
                out.append(("raw_bytes", b"\xff" + raw if rng.random() < 0.5 else raw + b"\x00"))
            elif fam == 1:
                out.append(("any_json", json.dumps(rng.choice(self.json)).encode()))
            elif fam == 2:
                depth = rng.choice((100, 1_000, 5_000))
                out.append(("deep_nesting", (b'{"a":' * depth) + b"1" + (b"}" * depth)))
            elif fam == 3:
                base = own if own is not None else json.dumps(
                    {"type": "x", "payload": {}}).encode()
                s = json.loads(base)
                _renew_id(s, rng)
                # 0xff / a lone continuation byte inside a JSON string: not UTF-8
                body = json.dumps(s).encode()
                cut = body.index(b'"', 2) + 1
                out.append(("invalid_utf8", body[:cut] + rng.choice((b"\xff", b"\x80", b"\xc3"))
                            + body[cut:]))
            elif fam == 4 and i % 500 != 4:
                out.append(("any_json", json.dumps(rng.choice(self.json)).encode()))
            elif fam == 4:
                big = "x" * HUGE
                if own is None:
                    out.append(("huge_string", json.dumps({"type": big}).encode()))
                else:
                    d = json.loads(own)
                    _renew_id(d, rng)
                    path = ("context", "action") if "context" in d else ("type",)
                    _set(d, path, big)
                    out.append(("huge_string", json.dumps(d).encode()))
            elif fam == 7 and others:
                o = json.loads(templates[rng.choice(others)])
                _renew_id(o, rng)  # valid, but not a type this topic carries
                out.append(("wrong_kind", json.dumps(o).encode()))
            else:
                assert own is not None
                for _ in range(20):  # a mutation the schema rejects (some negatives are valid)
                    got = self._mutate(fam, own)
                    try:
                        decode(got[1])
                    except ValueError:
                        out.append(got)
                        break
                else:
                    out.append(("any_json", json.dumps(rng.choice(self.json)).encode()))
        return out

    def _mutate(self, fam: int, own: bytes) -> tuple[str, bytes]:
        rng = self.rng
        d = json.loads(own)
        _renew_id(d, rng)
        beckn = "context" in d
        if fam == 5:
            req = REQUIRED_BECKN if beckn else [(k,) for k in REQUIRED_ENVELOPE]
            _del(d, rng.choice(req))
            return ("missing_field", json.dumps(d).encode())
        if fam == 6:
            leaves = [p for p, v in _paths(d) if isinstance(v, str | int | float)
                      and not isinstance(v, bool) and p[-1] not in ("message_id", "id")]
            _set(d, rng.choice(leaves), rng.choice(self.wrong))
            return ("wrong_type", json.dumps(d).encode())
        elif fam == 8:
            path = ("context", "timestamp") if beckn else ("time",)
            _set(d, path, rng.choice(self.times))
            return ("bad_timestamp", json.dumps(d).encode())
        else:
            nums = [p for p, v in _paths(d) if isinstance(v, int | float)
                    and not isinstance(v, bool) and v > 0]
            if nums:
                _set(d, rng.choice(nums), rng.choice(self.negatives))
                return ("negative_number", json.dumps(d).encode())
            else:
                _set(d, ("context", "action") if beckn else ("type",),
                     rng.choice(self.texts))
                return ("unknown_kind", json.dumps(d).encode())
