"""`python -m services.evaluate`: the same as `degflex evaluate`."""

from __future__ import annotations

import argparse
import sys

from services.evaluate.run import add_arguments, main


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.evaluate",
                                description="Compare placement policies on the June 2023 traces.")
    add_arguments(p)
    try:
        return main(p.parse_args(argv))
    except ValueError as exc:
        print(f"[evaluate] error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_main())
