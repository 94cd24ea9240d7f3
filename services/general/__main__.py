"""python -m services.general: the general service (backups, retention, alerts, heartbeat checks);
with a command (`backup now|list|restore-check`, `retention now`, `accounts ...`) it runs that once
and exits."""
from __future__ import annotations

import sys

import uvloop

from services.general.cli import parser, run_command
from services.general.main import run_general
from shared.service import load_or_exit, run

if __name__ == "__main__":
    args = parser().parse_args()
    if args.command is None:
        run("general", run_general, lambda s: s.general_metrics_port)
    else:
        sys.exit(uvloop.run(run_command(args, load_or_exit("general"))))
