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


def test_flat_names_reach_their_sections() -> None:
    s = load_settings({"TRADEHUB_POLL_RETRIES": "4", "TRADEHUB_OKX_INSTRUMENTS": "SOL-USDT-SWAP",
                       "TRADEHUB_S3_BUCKET": "dumps"}, consumer_block_ms=150)
    assert s.rest.retries == 4
    assert s.venues.okx.symbols == ["SOL-USDT-SWAP"]
    assert s.backup.s3.bucket == "dumps"
    assert s.consumer.block_ms == 150


def test_every_flat_name_is_unique_and_documented() -> None:
    from shared.config import FLAT

    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert len(FLAT) == len({name.upper() for name in FLAT})
    assert all(f"`TRADEHUB_{name.upper()}`" in page for name in FLAT)


def test_unknown_toml_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "tradehub.toml"
    path.write_text('api_prot = 8100\n')
    with pytest.raises(ConfigError, match=f"api_prot in {path}"):
        load_settings({"TRADEHUB_CONFIG": str(path)})


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="stream_prefixx"):
        load_settings({}, stream_prefixx="x")


def test_public_view_masks_nested_secrets() -> None:
    s = load_settings({"TRADEHUB_S3_SECRET_KEY": "hunter2", "TRADEHUB_TELEGRAM_TOKEN": "123:abc"})
    view = public_view(s)
    assert view["s3_secret_key"] == "<secret>" and view["telegram_token"] == "<secret>"
    assert "hunter2" not in str(view) and "123:abc" not in str(view)
