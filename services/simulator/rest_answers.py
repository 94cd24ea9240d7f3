"""What the simulated venues answer over REST: the same JSON shapes as tests/fixtures/<venue>/
(the venues' documented answers), with deterministic values per (seed, venue, asset) and the
current time, so a demo's funding spread is stable and plausible. Prices follow the market's price
paths (market.py): a venue's REST mark is the mid its websockets quote at that moment, so REST
and websockets agree."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable
from decimal import Decimal

from services.simulator.market import DEFAULT_START, START_PRICES, PricePath, Quote
from shared.config import Settings

RATE_STEP = Decimal("0.00001")
HOUR_MS = 3_600_000
# the market each venue's REST prices come from: the symbol its websockets trade (services/simulator/)
WS_SYMBOLS = {"binance": "{}USDT", "binance_spot": "{}USDT", "bybit": "{}USDT", "bybit_spot": "{}USDT",
              "okx": "{}-USDT-SWAP", "hyperliquid": "{}", "deribit": "{}-PERPETUAL"}


class Market:
    """Deterministic numbers of one simulated market."""

    def __init__(self, settings: Settings) -> None:
        self.seed = settings.simulator.seed
        bases = [s.removesuffix("USDT") for s in settings.simulator.symbols if s.endswith("USDT")]
        polled = settings.polling
        self.assets = sorted(set(bases + polled.funding_assets + polled.spot_assets + polled.oi_assets))
        self.paths: dict[str, PricePath] = {}
        self.quotes: dict[tuple[str, str], Quote] = {}

    def _draw(self, *parts: str) -> int:
        return zlib.crc32("|".join((str(self.seed), *parts)).encode())

    def quote(self, venue: str, asset: str, symbol: str | None = None) -> Quote:
        """The venue's market of the asset (`symbol`: the venue's name of it, its websocket perpetual
        by default), quoted now: the very quote its websocket trades at."""
        symbol = symbol or WS_SYMBOLS.get(venue, "{}USDT").format(asset)
        quote = self.quotes.get((venue, symbol))
        if quote is None:
            path = self.paths.get(asset) or self.paths.setdefault(asset, PricePath(self.seed, asset))
            quote = self.quotes[(venue, symbol)] = Quote(path, venue, symbol, self.seed)
        quote.update(now_ms())
        return quote

    def price(self, venue: str, asset: str, symbol: str | None = None) -> Decimal:
        """The asset's price on a venue now: its market's mid on the shared path; venue "index": the
        path itself (the index every venue's mark is near)."""
        quote = self.quote(venue, asset, symbol)
        return quote.index if venue == "index" else quote.mid

    def start_price(self, venue: str, asset: str) -> Decimal:
        """Where the asset's price started on a venue: its path's start, a few basis points apart per
        venue (the Hyperliquid trader population moves it along the path itself)."""
        basis = Decimal(self._draw("px", venue, asset) % 21 - 10) / Decimal(10_000)
        return (START_PRICES.get(asset, DEFAULT_START) * (1 + basis)).quantize(Decimal("0.01"))

    def rate(self, venue: str, asset: str) -> Decimal:
        """Funding per interval between -0.0001 and +0.0003, different on every venue."""
        return Decimal(self._draw("fr", venue, asset) % 41 - 10) * RATE_STEP

    def open_interest(self, venue: str, asset: str) -> Decimal:
        return Decimal(1000 + self._draw("oi", venue, asset) % 50_000) / Decimal(10)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def next_hour_ms(ms: int, hours: int = 1) -> int:
    return (ms // (hours * HOUR_MS) + 1) * hours * HOUR_MS


def binance_premium_index(m: Market, venue: str, symbols: Iterable[str]) -> list[dict[str, object]]:
    """/fapi/v1/premiumIndex items (Binance and Aster)."""
    t = now_ms()
    return [
        {
            "symbol": s,
            "markPrice": str(m.price(venue, s.removesuffix("USDT"))),
            "indexPrice": str(m.price("index", s.removesuffix("USDT"))),
            "estimatedSettlePrice": "0",
            "lastFundingRate": str(m.rate(venue, s.removesuffix("USDT"))),
            "interestRate": "0.00010000",
            "nextFundingTime": next_hour_ms(t, 8),
            "time": t,
        }
        for s in symbols
    ]


def bybit_funding_minutes(asset: str) -> int:
    """ETH funds every 4 hours on the simulated Bybit, the others every 8."""
    return 240 if asset == "ETH" else 480


def bybit_instruments(m: Market, limit: int, cursor: str) -> dict[str, object]:
    """instruments-info, category=linear: the perpetuals `limit` a page, the cursor an offset."""
    start = int(cursor) if cursor.isdigit() else 0
    assets = m.assets[start : start + limit]
    items = [
        {"symbol": f"{a}USDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": a,
         "quoteCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0",
         "fundingInterval": bybit_funding_minutes(a), "settleCoin": "USDT"}
        for a in assets
    ]
    more = start + limit < len(m.assets)
    page = {"category": "linear", "list": items, "nextPageCursor": str(start + limit) if more else ""}
    return {"retCode": 0, "retMsg": "OK", "result": page, "retExtInfo": {}, "time": now_ms()}


def bybit_tickers(m: Market, category: str) -> dict[str, object]:
    t = now_ms()
    items: list[dict[str, object]] = []
    for a in m.assets:
        price = m.price("bybit" if category == "linear" else "bybit_spot", a)
        item: dict[str, object] = {"symbol": f"{a}USDT", "lastPrice": str(price)}
        if category == "linear":
            oi = m.open_interest("bybit", a)
            item |= {
                "markPrice": str(price),
                "openInterest": str(oi),
                "openInterestValue": str(oi * price),
                "fundingRate": str(m.rate("bybit", a)),
                "nextFundingTime": str(next_hour_ms(t, bybit_funding_minutes(a) // 60)),
                "fundingIntervalHour": str(bybit_funding_minutes(a) // 60),
                "fundingCap": "0.005",
            }
        items.append(item)
    return {
        "retCode": 0,
        "retMsg": "OK",
        "result": {"category": category, "list": items},
        "retExtInfo": {},
        "time": t,
    }


def okx_funding(m: Market, inst_id: str) -> dict[str, object]:
    t, asset = now_ms(), inst_id.split("-")[0]
    funding_time = next_hour_ms(t, 8)
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                "instId": inst_id,
                "instType": "SWAP",
                "fundingRate": str(m.rate("okx", asset)),
                "fundingTime": str(funding_time),
                "nextFundingTime": str(funding_time + 8 * HOUR_MS),
                "method": "current_period",
                "nextFundingRate": "",
                "ts": str(t),
            }
        ],
    }


def okx_open_interest(m: Market) -> dict[str, object]:
    t = now_ms()
    data = []
    for a in m.assets:
        base = m.open_interest("okx", a)
        data.append(
            {
                "instId": f"{a}-USDT-SWAP",
                "instType": "SWAP",
                "oi": str(base * 100),
                "oiCcy": str(base),
                "oiUsd": str(base * m.price("okx", a)),
                "ts": str(t),
            }
        )
    return {"code": "0", "msg": "", "data": data}


def okx_instruments(m: Market) -> dict[str, object]:
    """public/instruments?instType=SWAP: a linear swap per asset, counted in the contracts the
    simulated websockets use (services/simulator/okx.py), and the inverse BTC-USD-SWAP."""
    from services.simulator.okx import CT_VAL

    linear = [
        {"instType": "SWAP", "instId": f"{a}-USDT-SWAP", "instFamily": f"{a}-USDT", "uly": f"{a}-USDT",
         "ctVal": str(CT_VAL.get(a, Decimal(1))), "ctValCcy": a, "ctMult": "1", "ctType": "linear",
         "settleCcy": "USDT", "state": "live"}
        for a in m.assets
    ]
    inverse = {"instType": "SWAP", "instId": "BTC-USD-SWAP", "instFamily": "BTC-USD", "uly": "BTC-USD",
               "ctVal": "100", "ctValCcy": "USD", "ctMult": "1", "ctType": "inverse", "settleCcy": "BTC",
               "state": "live"}
    return {"code": "0", "msg": "", "data": [*linear, inverse]}


def okx_spot_tickers(m: Market) -> dict[str, object]:
    t = now_ms()
    return {
        "code": "0",
        "msg": "",
        "data": [
            {"instType": "SPOT", "instId": f"{a}-USDT", "last": str(m.price("okx", a, f"{a}-USDT")),
             "ts": str(t)}
            for a in m.assets
        ],
    }


def hyperliquid_meta(m: Market) -> dict[str, object]:
    """info `meta`: the universe (every coin 4 size decimals, 50x) and its one margin table."""
    universe = [{"name": a, "szDecimals": 4, "maxLeverage": 50} for a in m.assets]
    tiers = {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 50}]}
    return {"universe": universe, "marginTables": [[50, tiers]]}


def hyperliquid_meta_and_asset_ctxs(m: Market) -> list[object]:
    universe = hyperliquid_meta(m)["universe"]
    ctxs = [
        {
            "funding": str(m.rate("hyperliquid", a) / 8),
            "openInterest": str(m.open_interest("hyperliquid", a)),
            "markPx": str(m.price("hyperliquid", a)),
            "oraclePx": str(m.price("index", a)),
            "midPx": str(m.price("hyperliquid", a)),
            "premium": "0.0001",
            "prevDayPx": str(m.price("index", a)),
            "dayNtlVlm": "1000000.0",
            "impactPxs": [str(m.price("hyperliquid", a))] * 2,
        }
        for a in m.assets
    ]
    return [{"universe": universe}, ctxs]


def lighter_funding_rates(m: Market) -> dict[str, object]:
    rows = []
    for n, a in enumerate(m.assets):  # `rate` over eight hours, the way lighter.py reads it
        rows.append({"market_id": n, "exchange": "lighter", "symbol": a, "rate": float(m.rate("lighter", a))})
        rows.append({"market_id": n, "exchange": "binance", "symbol": a, "rate": float(m.rate("binance", a))})
    return {"code": 200, "funding_rates": rows}


def grvt_ticker(m: Market, instrument: str) -> dict[str, object]:
    t, asset = now_ms(), instrument.split("_")[0]
    percent = m.rate("grvt", asset) * 100  # GRVT sends percentage points
    return {
        "result": {
            "event_time": str(t * 1_000_000),
            "instrument": instrument,
            "mark_price": str(m.price("grvt", asset)),
            "funding_rate": str(percent),
            "funding_rate_8h_curr": str(percent),
            "funding_interval_hours": 8,
            "next_funding_time": str(next_hour_ms(t, 8) * 1_000_000),
            "open_interest": str(m.open_interest("grvt", asset)),
        }
    }


def backpack_mark_prices(m: Market) -> list[dict[str, object]]:
    t = now_ms()
    return [
        {
            "symbol": f"{a}_USDC_PERP",
            "fundingRate": str(m.rate("backpack", a) / 8),
            "markPrice": str(m.price("backpack", a)),
            "indexPrice": str(m.price("index", a)),
            "nextFundingTimestamp": next_hour_ms(t),
        }
        for a in m.assets
    ]


def backpack_markets(m: Market) -> list[dict[str, object]]:
    return [
        {
            "symbol": f"{a}_USDC_PERP",
            "baseSymbol": a,
            "quoteSymbol": "USDC",
            "marketType": "PERP",
            "fundingInterval": HOUR_MS,
        }
        for a in m.assets
    ]


def jupiter_prices(m: Market, mints: dict[str, str], ids: Iterable[str]) -> dict[str, object]:
    by_mint = {mint: asset for asset, mint in mints.items()}
    return {
        mint: {
            "usdPrice": float(m.price("jupiter", by_mint[mint])),
            "blockId": 348004023,
            "decimals": 9,
            "priceChange24h": 1.29,
        }
        for mint in ids
        if mint in by_mint
    }


def pyth_latest(m: Market, feeds: dict[str, str], ids: Iterable[str]) -> dict[str, object]:
    by_feed = {feed.lower().removeprefix("0x"): asset for asset, feed in feeds.items()}
    seconds, parsed = now_ms() // 1000, []
    for feed_id in ids:
        asset = by_feed.get(feed_id.lower().removeprefix("0x"))
        if asset is None:
            continue
        mantissa = str(int(m.price("pyth", asset) * 10**8))
        price = {"price": mantissa, "conf": "1000000", "expo": -8, "publish_time": seconds}
        parsed.append(
            {
                "id": feed_id.lower().removeprefix("0x"),
                "price": price,
                "ema_price": price,
                "metadata": {"slot": 1, "proof_available_time": seconds, "prev_publish_time": seconds - 1},
            }
        )
    return {"binary": {"encoding": "hex", "data": []}, "parsed": parsed}
