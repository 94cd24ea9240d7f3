"""Settings: env and TOML, and errors that name the variable at fault."""
from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, load_settings, public_view


def test_env_values_are_converted_to_their_types() -> None:
    s = load_settings({"TRADEHUB_API_PORT": "9000", "TRADEHUB_BINANCE_SYMBOLS": "BTCUSDT, SOLUSDT",
                       "TRADEHUB_VENUE_URLS": "binance=ws://127.0.0.1:1", "TRADEHUB_BREAKER_RESET_S": "2.5"})
    assert s.api_port == 9000
    assert s.venues.binance.symbols == ["BTCUSDT", "SOLUSDT"]
    assert s.venues.urls == {"binance": "ws://127.0.0.1:1"}
    assert s.consumer.breaker_reset_s == 2.5


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRADEHUB_API_PORT": "eighty"}, "TRADEHUB_API_PORT"),
        ({"TRADEHUB_API_PORT": "70000"}, "TRADEHUB_API_PORT"),
        ({"TRADEHUB_CONSUMER_MAX_DELIVERIES": "0"}, "TRADEHUB_CONSUMER_MAX_DELIVERIES"),
        ({"TRADEHUB_LOG_LEVEL": "LOUD"}, "TRADEHUB_LOG_LEVEL"),
        ({"TRADEHUB_API_PROT": "80"}, "TRADEHUB_API_PROT"),
        ({"TRADEHUB_VENUE_URLS": "binance"}, "TRADEHUB_VENUE_URLS"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_toml_file_then_env_overrides(tmp_path: Path) -> None:
    path = tmp_path / "tradehub.toml"
    path.write_text('api_port = 8100\nbinance_symbols = ["ETHUSDT"]\n')
    s = load_settings({"TRADEHUB_CONFIG": str(path), "TRADEHUB_API_PORT": "8200"})
    assert s.api_port == 8200
    assert s.venues.binance.symbols == ["ETHUSDT"]


def test_bad_toml_value_names_the_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "tradehub.toml"
    path.write_text('api_port = "x"\n')
    with pytest.raises(ConfigError, match=f"api_port in {path}"):
        load_settings({"TRADEHUB_CONFIG": str(path)})


def test_secret_from_file_is_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "db"
    secret.write_text("postgresql://u:hunter2@db:5432/x\n")
    s = load_settings({"TRADEHUB_DATABASE_URL_FILE": str(secret)})
    assert s.database_url == "postgresql://u:hunter2@db:5432/x"
    assert "hunter2" not in str(public_view(s))
