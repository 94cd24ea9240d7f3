"""python -m services.processor            run the processor
python -m services.processor dlq list|show|replay|purge STREAM [ID ...]
python -m services.processor traders watch add|remove|list [ADDRESS] [--min-usd N]
python -m services.processor recompute candles|rollups|leaderboard|hedges --from T --to T
                             [--exchange E --symbol S]"""
from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv and argv[0] == "dlq":
        from services.processor.dlq_cli import main as dlq_main

        return dlq_main(argv[1:])
    if argv and argv[0] == "traders":
        from services.processor.traders_cli import main as traders_main

        return traders_main(argv[1:])
    if argv and argv[0] == "recompute":
        from services.processor.recompute import main as recompute_main

        return recompute_main(argv[1:])
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    from services.processor.main import run_processor  # not for the CLI: it starts in a fraction of the time
    from shared.service import run

    run("processor", run_processor, lambda s: s.processor_metrics_port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
