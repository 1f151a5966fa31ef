"""`degflex keys new`: an ed25519 signing key file plus its registry (`lookup`-shape) entry.

The private key is written to a file readable by its owner only and is never printed or logged;
what is printed is the key id and the public key.
"""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.registry import Subscription, upsert
from services.common.signing import PrivateKey


@dataclass(frozen=True)
class NewKey:
    key_file: Path
    entry: Subscription


def write_key_file(path: Path, key: PrivateKey) -> None:
    """Base64 seed||public (64 bytes, BECKN-006's `signing_private_key` form), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.seed_and_public_b64() + "\n")
    os.chmod(path, 0o600)


def new_key(subscriber_id: str, role: str, key_dir: Path, registry: Path, *,
            url: str | None = None, domain: str | None = None, key_id: str | None = None,
            valid_days: float = 365, now: datetime | None = None) -> NewKey:
    """Generate a key pair, write the private half and add the public half to the registry."""
    key = PrivateKey.generate()
    kid = key_id or str(uuid.uuid4())
    t0 = (now or datetime.now(UTC)).replace(microsecond=0)
    entry = Subscription(subscriber_id=subscriber_id, url=url, type=role,  # type: ignore[arg-type]
                         domain=domain, key_id=kid, signing_public_key=key.public_b64,
                         valid_from=t0,
                         valid_until=t0 + timedelta(days=valid_days), status="SUBSCRIBED",
                         created=t0, updated=t0)
    key_file = key_dir / f"{subscriber_id}.{kid}.key"
    write_key_file(key_file, key)
    upsert(registry, entry)
    return NewKey(key_file, entry)


# Which Beckn party each service signs for: CompFlex (BAP) sends requests, GridFlexAgent (BPP)
# sends callbacks; every signing service has its own key under its party's subscriber id.
SIGNERS = {"planner": "BAP", "load-shifter": "BAP", "grid-signal": "BPP", "settlement": "BPP"}


def service_keys(key_dir: Path, bap: tuple[str, str], bpp: tuple[str, str]
                 ) -> tuple[Path, dict[str, dict[str, str]]]:
    """Fresh keys for a run (the demo, e2e tests): the registry file and each signing
    service's environment (verification is on for every service through the registry)."""
    registry = key_dir / "registry.json"
    registry.unlink(missing_ok=True)
    env: dict[str, dict[str, str]] = {}
    for service, role in SIGNERS.items():
        subscriber, url = bap if role == "BAP" else bpp
        made = new_key(subscriber, role, key_dir, registry, url=url,
                       key_id=str(uuid.uuid4()), valid_days=2)
        env[service] = {"DEGFLEX_BECKN_SUBSCRIBER_ID": subscriber,
                        "DEGFLEX_BECKN_KEY_ID": made.entry.key_id,
                        "DEGFLEX_BECKN_SIGNING_KEY_FILE": str(made.key_file.resolve())}
    return registry.resolve(), env


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="keys_action", required=True)
    n = sub.add_parser("new", help="generate an ed25519 key pair and its registry entry")
    n.add_argument("--subscriber-id", required=True, help="e.g. compflex.computecloud.example")
    n.add_argument("--type", required=True, choices=["BAP", "BPP", "BG"], dest="role")
    n.add_argument("--url", help="the subscriber's Beckn endpoint (registry `url`)")
    n.add_argument("--domain", default="beckn.one:DEG:compute-energy:1.0")
    n.add_argument("--key-id", help="unique_key_id (default: a new UUID)")
    n.add_argument("--valid-days", type=float, default=365)
    n.add_argument("--key-dir", default="keys", help="where the private key file goes")
    n.add_argument("--registry", default="keys/registry.json",
                   help="registry file (lookup response shape) to add the entry to")


def main(args: argparse.Namespace) -> int:
    made = new_key(args.subscriber_id, args.role, Path(args.key_dir), Path(args.registry),
                   url=args.url, domain=args.domain, key_id=args.key_id,
                   valid_days=args.valid_days)
    e = made.entry
    print(f"key id      {e.subscriber_id}|{e.key_id}|ed25519")
    print(f"public key  {e.signing_public_key}")
    print(f"private key {made.key_file} (mode 0600; DEGFLEX_BECKN_SIGNING_KEY_FILE)")
    print(f"registry    {args.registry} (DEGFLEX_BECKN_REGISTRY_FILE)")
    print(f"valid       {e.valid_from.isoformat()} .. {e.valid_until.isoformat()}")
    return 0
