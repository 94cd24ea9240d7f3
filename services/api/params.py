"""Query parameters: one frozen msgspec Struct per endpoint, checked by `msgspec.convert`.

The type is the validation: names, choices and bounds are declared on the fields (msgspec.Meta),
and the few values msgspec cannot read from text (a time given as µs or ISO-8601, a list of names,
a USD amount) have a parser below. A failure becomes one 400 answer that names the parameter,
says what it must be and echoes what was sent. Unknown parameters are ignored, and an empty value
of an optional filter (`?exchange=`) is the same as leaving it out.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web

from services.api.keys import SETTINGS
from shared.candles import INTERVAL_US

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BIGINT = 2**63 - 1  # PostgreSQL's bigint, in which times are stored
# \Z, not $: "$" lets a trailing newline through. ASCII only: Python's \w would take any letter (É),
# which the OpenAPI document's (ECMA) patterns do not, and no venue names a market so.
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}\Z"
ECHOED_CHARS = 64  # how much of a bad value the answer repeats

Name = Annotated[str, msgspec.Meta(
    pattern=NAME_PATTERN, description="1 to 64 letters, digits, '-', '_' or '.'")]
Symbol = Annotated[str, msgspec.Meta(
    pattern=NAME_PATTERN, description="an asset such as BTC, or a symbol such as BTC-USDT-PERP")]
Feed = Annotated[str, msgspec.Meta(
    pattern=r"^[A-Za-z0-9_.:-]{1,64}\Z", description="a feed name such as okx:business:0")]
Interval = Annotated[str, msgspec.Meta(
    pattern=f"^({'|'.join(map(re.escape, INTERVAL_US))})\\Z", description=f"one of {', '.join(INTERVAL_US)}")]
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}\Z"  # a Hyperliquid (EVM) address; stored lower case
Address = Annotated[str, msgspec.Meta(pattern=ADDRESS_PATTERN, description="0x followed by 40 hex digits")]
PositiveInt = Annotated[int, msgspec.Meta(ge=1, description="a positive integer")]
EpochMicros = Annotated[int, msgspec.Meta(ge=0, le=BIGINT, description="microseconds since the epoch")]


class Moment(int):
    """Microseconds since the epoch, sent as such or as ISO-8601 (UTC unless it says otherwise)."""


class NameList(tuple[str, ...]):
    """Names separated by commas (a,b); empty items between commas are skipped."""


class UsdAmount(Decimal):
    """A USD amount: a finite decimal number >= 0, kept exact."""


def moment_of(text: str) -> Moment:
    if text.lstrip("-").isdigit():
        value = int(text)
    else:
        moment = datetime.fromisoformat(text)  # ValueError: not ISO-8601
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = (moment - EPOCH) // timedelta(microseconds=1)
    if abs(value) > BIGINT:
        raise ValueError("out of range")
    return Moment(value)


def name_list_of(text: str) -> NameList:
    names = [name for name in text.split(",") if name]
    if not names or not all(re.match(NAME_PATTERN, name) for name in names):
        raise ValueError("not names separated by commas")
    return NameList(names)


def usd_amount_of(text: str) -> UsdAmount:
    try:
        value = UsdAmount(text)
    except InvalidOperation:
        raise ValueError("not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ValueError("not a finite number >= 0")
    return value


TEXT_PARSERS: dict[type, Callable[[str], object]] = {
    Moment: moment_of, NameList: name_list_of, UsdAmount: usd_amount_of,
}
DESCRIPTIONS: dict[type, str] = {
    Moment: "microseconds since the epoch or ISO-8601",
    NameList: "names separated by commas",
    UsdAmount: "a finite decimal number >= 0",
}


def from_text(kind: type, value: Any) -> object:
    """msgspec's hook for the types it cannot read from text itself."""
    parse = TEXT_PARSERS.get(kind)
    if parse is None or not isinstance(value, str):
        raise NotImplementedError(kind)
    return parse(value)


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """The parameters of one endpoint."""


class Page(Query, frozen=True, kw_only=True):
    """?limit=: how many rows at most; more than api_max_limit is cut to it (`capped`), not refused."""

    limit: PositiveInt = 100


class Window(Page, frozen=True, kw_only=True):
    """?from= (inclusive) and ?to= (exclusive)."""

    start: Moment | None = msgspec.field(default=None, name="from")
    end: Moment | None = msgspec.field(default=None, name="to")

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("from must be before to")


class VenueFilters(Page, frozen=True, kw_only=True):
    exchange: Name | None = None
    symbol: Name | None = None


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _expected(kind: msgspec.inspect.Type) -> str | None:
    """What a value of this field must be, in words: its description, or its choices."""
    if isinstance(kind, msgspec.inspect.UnionType):
        kinds = [k for k in kind.types if not isinstance(k, msgspec.inspect.NoneType)]
        return _expected(kinds[0]) if len(kinds) == 1 else None
    if isinstance(kind, msgspec.inspect.Metadata):
        description = (kind.extra_json_schema or {}).get("description")
        return str(description) if description else _expected(kind.type)
    if isinstance(kind, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(str(value) for value in kind.values)
    if isinstance(kind, msgspec.inspect.CustomType):
        return DESCRIPTIONS.get(kind.cls)
    return None


@cache
def _fields(cls: type[Query]) -> dict[str, msgspec.inspect.Field]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return {field.encode_name: field for field in info.fields}


@cache
def _optional(cls: type[Query]) -> frozenset[str]:
    """Parameters whose empty value means "no filter"."""
    return frozenset(name for name, field in _fields(cls).items() if field.default is None)


def query_error(
    exc: msgspec.ValidationError, cls: type[Query], given: Mapping[str, str]
) -> web.HTTPBadRequest:
    """msgspec's message turned into one that names the parameter and says what it must be."""
    text = str(exc)
    missing = re.search(r"missing required field `([^`]+)`", text)
    at = re.search(r" - at `\$\.([^`\[]+)`$", text)
    name = missing.group(1) if missing else at.group(1) if at else None
    field = _fields(cls).get(name) if name else None
    if name is None or field is None:
        return bad_request(text)  # a rule across parameters (from before to): its message says it all
    expected = _expected(field.type)
    if missing:
        return bad_request(f"{name} is required" + (f" ({expected})" if expected else ""))
    got = given.get(name, "")[:ECHOED_CHARS]
    if expected is None:
        return bad_request(f"{name}: {text.rsplit(' - at ', 1)[0]}, got {got}")
    return bad_request(f"{name} must be {expected}, got {got}")


Q = TypeVar("Q", bound=Query)


def parse_query(request: web.Request, cls: type[Q], defaults: Mapping[str, str] | None = None) -> Q:
    """The request's query and path parameters as `cls`, or a 400 that says what is wrong.

    `defaults` fill parameters the request left out, for defaults that come from settings."""
    optional = _optional(cls)
    query = {name: request.query[name] for name in request.query}  # a repeated parameter: its first value
    given = {
        **(defaults or {}),
        **{name: value for name, value in query.items() if value or name not in optional},
        **request.match_info,
    }
    try:
        parsed = msgspec.convert(given, cls, strict=False, dec_hook=from_text)
    except msgspec.ValidationError as exc:
        raise query_error(exc, cls, given) from None
    # msgspec reads the text "null" as None where a field may be None: in a query it is no value
    nulls = [name for name, value in given.items() if value == "null" and getattr(parsed, name, "") is None]
    if nulls:
        raise bad_request(f"{nulls[0]}=null: leave the parameter out (or empty) for no filter")
    return parsed


def capped(request: web.Request, limit: int) -> int:
    """?limit= answers at most api_max_limit rows: more is not refused, only cut."""
    return min(limit, request.app[SETTINGS].api.max_limit)
