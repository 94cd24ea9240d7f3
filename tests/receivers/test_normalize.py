"""normalize: raw frames on stdin -> events on stdout, through the live parse functions."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.fixtures import frame


def test_normalize_prints_exact_fields_and_names_bad_lines() -> None:
    good = frame("binance", "aggTrade").decode()
    stdin = "\n".join([good, "not json", good.replace('"m":true', '"m":false'), ""])
    done = subprocess.run([sys.executable, "-m", "services.receivers", "normalize", "--exchange", "binance"],
                          input=stdin, capture_output=True, text=True, timeout=60)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(events) == 2
    first = events[0]
    assert first["kind"] == "trade"
    assert first["exchange"] == "binance"
    assert first["symbol"] == "BTC-USDT-PERP"
    assert first["side"] == "sell"  # buyer was the maker
    assert events[1]["side"] == "buy"
    assert first["price"] == "0.001" and first["size"] == "100"
    assert first["trade_id"] == "5933014"
    assert first["ts"] == 123456785000  # ms -> µs
    assert "line 2:" in done.stderr
    assert done.returncode == 1
