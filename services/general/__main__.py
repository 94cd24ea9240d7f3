"""python -m services.general: scheduled operations (backups, retention, alerts, heartbeat checks)."""
from __future__ import annotations

from services.general.main import run_general
from shared.service import run

if __name__ == "__main__":
    run("general", run_general, lambda s: s.general_metrics_port)
