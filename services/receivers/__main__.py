"""python -m services.receivers                       run the receivers
python -m services.receivers normalize --exchange NAME   stdin frames -> stdout events
python -m services.receivers capabilities             the venues x REST capabilities table"""
from __future__ import annotations

import sys

from services.receivers.main import run_receivers
from shared.service import run


def main(argv: list[str]) -> int:
    if argv and argv[0] == "normalize":
        from services.receivers.normalize import main as normalize_main

        return normalize_main(argv[1:])
    if argv == ["capabilities"]:
        from services.receivers.capabilities import capability_table

        print(capability_table())
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    run("receivers", run_receivers, lambda s: s.receivers_metrics_port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
