"""One frozen settings object, read once at start from TRADEHUB_* variables and an
optional TOML file (TRADEHUB_CONFIG), validated with errors that name the variable.

Precedence: defaults < TOML file < environment. A secret may come from a file:
TRADEHUB_<NAME>_FILE=/run/secrets/x reads the setting <name> from that file.

Names are flat outside (TRADEHUB_POLL_RETRIES, `poll_retries = 2`) and nested inside
(settings.rest.retries): shared/settings.py gives every field its flat name; `FLAT` maps each
flat name to its place.
"""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from shared.settings import Settings

__all__ = ["ConfigError", "FLAT", "Place", "Settings", "load_settings", "public_view", "places"]

ENV_PREFIX = "TRADEHUB_"
SECRETS = frozenset({"database_url", "telegram_token", "api_keys", "s3_secret_key", "exchange_keys_secret",
                     "rest_api_keys", "master_key"})


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names it."""


class Place(msgspec.Struct, frozen=True):
    """Where one flat setting lives: the sections leading to it, its field there, its type."""

    path: tuple[str, ...]  # sections, e.g. ("rest",)
    keys: tuple[str, ...]  # the same sections as msgspec names them (a section may be renamed too)
    field: str  # the attribute in that section, e.g. "retries"
    section: type[msgspec.Struct]  # the class that declares it
    type: Any


def places(cls: type[msgspec.Struct] = Settings, path: tuple[str, ...] = (),
           keys: tuple[str, ...] = ()) -> Iterator[tuple[str, Place]]:
    """(flat name, place) of every setting, in declaration order, sections walked depth first."""
    for info in msgspec.structs.fields(cls):
        if isinstance(info.type, type) and issubclass(info.type, msgspec.Struct):
            yield from places(info.type, (*path, info.name), (*keys, info.encode_name))
        else:
            yield info.encode_name, Place(path, keys, info.name, cls, info.type)


FLAT: dict[str, Place] = dict(places())


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _parse_env_value(raw: str, annotation: Any) -> Any:
    """Env values are strings; lists are comma-separated, maps are k=v,k=v."""
    text = str(annotation)
    if "list[" in text:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if "dict[" in text:
        pairs = [part.split("=", 1) for part in raw.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ConfigError(f"expected key=value pairs separated by commas, got {raw!r}")
        return {key.strip(): value.strip() for key, value in pairs}
    return raw


def _nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat name -> value into the nested shape msgspec converts (sections keyed by field name,
    settings by their flat, encoded name)."""
    tree: dict[str, Any] = {}
    for name, value in values.items():
        node = tree
        for key in FLAT[name].keys:
            node = node.setdefault(key, {})
        node[name] = value
    return tree


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from TOML (TRADEHUB_CONFIG), env and keyword overrides (flat names)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    path = env.get(ENV_PREFIX + "CONFIG")
    if path:
        for key, value in _read_toml(path).items():
            values[key], origin[key] = value, f"{key} in {path}"
    for name, raw in env.items():
        if name.startswith(ENV_PREFIX) and name != ENV_PREFIX + "CONFIG":
            field, values[field] = _read_env(name, raw)
            origin[field] = name
    for key, value in overrides.items():
        if key not in FLAT:
            raise ConfigError(f"{key}: unknown setting (see docs/configuration.md)")
        values[key], origin[key] = value, key
    try:
        return msgspec.convert(_nested(values), Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, values, origin)) from exc


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            toml = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"TRADEHUB_CONFIG={path}: cannot read: {exc}") from exc
    unknown = sorted(set(toml) - FLAT.keys())
    if unknown:
        raise ConfigError(f"unknown setting {', '.join(unknown)} in {path} (see docs/configuration.md)")
    return toml


def _read_env(name: str, raw: str) -> tuple[str, Any]:
    """TRADEHUB_<NAME>[_FILE] -> (flat name, value as msgspec converts it)."""
    field = name[len(ENV_PREFIX):].lower()
    if field.endswith("_file") and field[:-5] in FLAT:
        field = field[:-5]
        try:
            with open(raw, encoding="utf-8") as fh:
                raw = fh.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}={raw}: cannot read secret file: {exc}") from exc
    if field not in FLAT:
        raise ConfigError(f"{name}: unknown setting (see docs/configuration.md)")
    try:
        return field, _parse_env_value(raw, FLAT[field].type)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def _explain(exc: msgspec.ValidationError, values: dict[str, Any], origin: dict[str, str]) -> str:
    """Turn msgspec's `... - at $.section.name` into a message naming the variable or TOML key."""
    message = str(exc)
    head = message.split(" - at ")[0]
    paths = re.findall(r"`\$\.([^`]*)`", message)
    steps = paths[-1].replace("[", ".[").split(".") if paths else []
    names = [step for step in steps if step in FLAT]
    if not names:
        return message
    field = names[-1]
    source = origin.get(field, _env_name(field))
    shown = "<secret>" if field in SECRETS else repr(values.get(field))
    return f"invalid setting {source}={shown}: {head}"


def public_view(settings: Settings) -> dict[str, Any]:
    """The settings by flat name, secrets masked: safe to log."""
    data: dict[str, Any] = {}
    for name, place in FLAT.items():
        node: Any = settings
        for section in place.path:
            node = getattr(node, section)
        value = getattr(node, place.field)
        data[name] = ("<secret>" if value else "") if name in SECRETS else value
    if "://" in str(data["redis_url"]) and "@" in str(data["redis_url"]):
        data["redis_url"] = "<secret>"
    return data
