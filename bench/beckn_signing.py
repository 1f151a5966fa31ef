"""Cost of Beckn signing per record in the runner's decode step (CPU only, no broker).

    python bench/beckn_signing.py [--records 5000]

Times `Runner._process` (decode, topic check, signature check, dedupe, a no-op handler) on
(a) meter readings on their non-Beckn topic and (b) signed seed-day `on_confirm` callbacks on
`beckn.callbacks.v1`, each with signing off and on; and the producer side's `BecknAuth.sign`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine  # noqa: E402

from contracts.beckn.models import Action, OrderStatus  # noqa: E402
from contracts.events import MeterReadingRecorded  # noqa: E402
from contracts.topics import BECKN_CALLBACKS, READINGS  # noqa: E402
from services.common.codec import encode, envelope  # noqa: E402
from services.common.metrics import stream_metrics  # noqa: E402
from services.common.runner import Runner, ignore  # noqa: E402
from services.common.settings import ServiceSettings  # noqa: E402
from tests.signed import BPP_ID, BPP_KEY, BPP_KID, signed, write_registry  # noqa: E402
from tests.unit.factories import CAMBRIDGE_TXN, beckn, cambridge_order  # noqa: E402

T0 = datetime(2025, 11, 17, tzinfo=UTC)


def readings(n: int) -> list[Any]:
    out = []
    for i in range(n):
        r = MeterReadingRecorded(site_id="cambridge-east", start=T0 + timedelta(minutes=i),
                                 end=T0 + timedelta(minutes=i + 1), import_kwh=12.5,
                                 load_kwh=12.5, battery_discharge_kwh=0)
        value = encode(envelope(r, id=f"reading-{i}", time=r.end, source="bench"))
        out.append(SimpleNamespace(topic=READINGS.name, partition=0, offset=i, key=b"k",
                                   value=value, headers=(), timestamp=0))
    return out


def callbacks(n: int, now: float) -> list[Any]:
    out = []
    for i in range(n):
        msg = beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED,
                                                                      confirmed=True),
                    message_id=str(uuid.UUID(int=i)), timestamp=T0)
        value, headers = signed(msg, now)
        out.append(SimpleNamespace(topic=BECKN_CALLBACKS.name, partition=0, offset=i, key=b"k",
                                   value=value, headers=headers, timestamp=int(now * 1000)))
    return out


def per_record_us(settings: ServiceSettings, recs: list[Any], kind: str, topic: Any,
                  repeats: int = 3) -> float:
    """Best of `repeats` passes, each with a fresh runner (so no id is a duplicate)."""
    best = float("inf")
    for _ in range(repeats):
        runner: Runner[None] = Runner(settings, None, {kind: ignore}, [topic], stream_metrics())
        t0 = time.perf_counter()
        for r in recs:
            _, outs = runner._process(r, replay=False)  # noqa: SLF001 - the step measured
            assert not outs, outs
        best = min(best, (time.perf_counter() - t0) / len(recs) * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5000)
    n = ap.parse_args().records
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        registry = write_registry(Path(tmp) / "registry.json")
        off = ServiceSettings(service_name="bench")
        on = ServiceSettings(service_name="bench", beckn_registry_file=registry,
                             beckn_check_message_ttl=False,
                             beckn_signing_key=BPP_KEY.seed_and_public_b64(),
                             beckn_subscriber_id=BPP_ID, beckn_key_id=BPP_KID.unique_key_id)
        meter, cbs = readings(n), callbacks(n, now)
        rows = [
            ("meter reading, non-Beckn topic", "off",
             per_record_us(off, meter, "metering.reading.recorded", READINGS)),
            ("meter reading, non-Beckn topic", "on",
             per_record_us(on, meter, "metering.reading.recorded", READINGS)),
            ("on_confirm, beckn.callbacks.v1", "off",
             per_record_us(off, cbs, "beckn.on_confirm", BECKN_CALLBACKS)),
            ("on_confirm, beckn.callbacks.v1", "on (verify)",
             per_record_us(on, cbs, "beckn.on_confirm", BECKN_CALLBACKS)),
        ]
        runner: Runner[None] = Runner(on, None, {}, [], stream_metrics())
        assert runner.auth is not None
        msg = beckn(Action.ON_CONFIRM, CAMBRIDGE_TXN, cambridge_order(OrderStatus.CONFIRMED,
                                                                      confirmed=True))
        body = encode(msg)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                runner.auth.sign(body, msg)
            best = min(best, (time.perf_counter() - t0) / n * 1e6)
        rows.append(("on_confirm, producer side", "sign", best))
    print(f"Beckn signing cost per record ({n} records, best of 3; {machine()}; "
          f"on_confirm body {len(body)} bytes)")
    print(f"{'record':34} {'signing':12} {'us/record':>10}")
    for name, mode, us in rows:
        print(f"{name:34} {mode:12} {us:10.1f}")


if __name__ == "__main__":
    main()
