"""Unit tier: pure domain rules and handlers, no network, no broker."""
