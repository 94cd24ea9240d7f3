"""`python -m services.receivers capabilities` and the registry it prints."""

from __future__ import annotations

import re

import pytest

from services.receivers.__main__ import main
from services.receivers.capabilities import CAPABILITIES, REST_VENUES, client_for, rest_url, venues_for


def test_capabilities_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capabilities"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["venue", "funding", "spot", "oi", "weight/min", "rest", "url"]
    cells = [re.split(r"\s{2,}", line) for line in lines[1:] if line and not line.startswith("funding =")]
    rows = {cell[0]: cell[1:4] for cell in cells}  # a venue's second market reads "binance (spot)"
    assert rows["bybit"] == ["yes", "yes", "yes"]
    assert rows["pyth"] == ["-", "yes", "-"] and rows["lighter"] == ["yes", "-", "-"]
    assert len(rows) == len(REST_VENUES) == 12  # deribit: REST for its account snapshots only
    assert rows["deribit"] == ["-", "-", "-"]


def test_registry_covers_the_issue() -> None:
    assert set(CAPABILITIES["funding"]) == {
        "binance",
        "bybit",
        "okx",
        "hyperliquid",
        "lighter",
        "aster",
        "grvt",
        "backpack",
    }
    assert set(CAPABILITIES["spot"]) == {"binance_spot", "bybit", "okx", "jupiter", "pyth"}
    assert set(CAPABILITIES["oi"]) == {"binance", "bybit", "okx", "hyperliquid"}


def test_urls_keys_and_venue_selection(make_settings) -> None:
    settings = make_settings(
        venue_urls={"okx_rest": "http://sim:8765/okx", "okx": "ws://sim:8765"},
        rest_api_keys={"pyth": "k1"},
        poll_spot_venues=["pyth", "okx"],
    )
    assert rest_url(settings, "okx") == "http://sim:8765/okx"  # the websocket url is left alone
    assert rest_url(settings, "bybit") == "https://api.bybit.com"
    assert client_for(settings, "pyth")._headers == {"Authorization": "Bearer k1"}
    assert client_for(settings, "okx")._headers == {}
    assert venues_for("spot", settings) == ["pyth", "okx"]
    assert venues_for("oi", settings) == ["binance", "bybit", "hyperliquid", "okx"]
