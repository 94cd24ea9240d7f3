"""The dashboard at / in a real browser: Debian's Chromium, driven by Playwright, against the api on a
real port with the real Redis and PostgreSQL. The services' heartbeats, a feed's and a poller's status
are written as the services write them; funding rates, the leaderboard, a portfolio and a hedge are
rows in the tables; liquidations, a large trade and a rule's firing are published on the streams the
way the receivers and the processor publish them, after the page is open, and must appear on it.

Checked: the spread table's rows and figures, live events within seconds (newest first), the
account sections and the `alerts` topic once a key is entered, every value shown as text (a feed
named with markup stays text), no uncaught script error, no CSP violation, no 429 while polling.
A second test runs the simulator and the receivers as processes: the simulated market's
liquidations reach the open page. Screenshots (desktop and phone widths, and the simulated market)
land in artifacts/ at the repository root."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, ConsoleMessage, Locator, Page, Response, async_playwright, expect
from pytest_aiohttp import AiohttpServer

from services.api.app import create_app
from shared.config import Settings
from shared.constants import SERVICES
from shared.events import Alert, LargeTrade, Liquidation, now_us
from shared.feed_status import FeedStatus, write_feed_statuses
from shared.health import beat_forever
from shared.poll_status import PollStatus, record_poll
from tests.api.test_accounts_api import ACCOUNT_INSERT, key
from tests.api.test_push import publish
from tests.stack import Stack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
D = Decimal
WAIT_MS = 8000  # the longest a value may take to show up (a poll is 5 s, a push well under 1 s)
# the sections whose table must scroll sideways in its card
CLIPPED_TABLES = ("[...document.querySelectorAll('.scroll')].filter(e => e.scrollWidth > e.clientWidth)"
                  ".map(e => e.closest('section').id)")
SIMULATED_WAIT_MS = 20_000  # the simulator sends a liquidation every 2 s per symbol, after its start
ADDRESSES = ["0x" + c * 40 for c in "abc"]
MARKUP_FEED = "<b>okx</b>:0"  # must be shown as these characters, never parsed

FUNDING = [("binance", "BTC-USDT-PERP", "0.10"), ("bybit", "BTC-USDT-PERP", "0.25"),
           ("okx", "BTC-USDT-PERP", "-0.05"), ("binance", "ETH-USDT-PERP", "0.08"),
           ("okx", "ETH-USDT-PERP", "0.12"), ("binance", "SOL-USDT-PERP", "0.3")]
FUNDING_INSERT = """
INSERT INTO funding_rates (exchange, symbol, raw_symbol, rate, interval_hours, annualized, next_funding_ts,
                           ts, recv_ts)
VALUES ($1, $2, $3, $4, 8, $5, NULL, $6, $6)
"""
RANKED_INSERT = """
INSERT INTO leaderboard (ts, address, rank, score, age_days, volume, realized_pnl, roi, win_rate, risk_ratio,
                         max_drawdown, sharpe, closed_trades, tracked_since, fills_complete)
VALUES ($1, $2, $3, $4, 40, $5, $6, $7, $8, NULL, NULL, NULL, 12, $1, true)
"""
ITEM_INSERT = """
INSERT INTO portfolio_items (account, asset, exchange, quantity, avg_entry, cost_method, realized_pnl,
    unrealized_pnl, pnl_pct, price, price_source, price_age_s, value_usd, ts)
VALUES ('main', $1, 'binance', $2, $3, 'average', 0, $4, $5, $6, 'venue_mark', 0, $7, $8)
"""
HEDGE_INSERT = """
INSERT INTO hedge_snapshots (pool, asset, ts, source, pool_asset, held_units, per_unit, required, hedge,
                             drift, drift_pct, price, drift_usd)
VALUES ('jlp', 'SOL', $1, 'jlp', 'SOL', 1000, 0.25, 250, -240, 10, 4, 150, 1500)
"""


async def seed(pool: asyncpg.Pool, now: int) -> None:
    """BTC on three venues (spread 30 %), ETH on two (4 %), SOL on one (no spread: not listed)."""
    for exchange, symbol, annualized in FUNDING:
        await pool.execute(FUNDING_INSERT, exchange, symbol, symbol.replace("-", ""), D(annualized) / 1095,
                           D(annualized), now)
    for rank, address in enumerate(ADDRESSES, start=1):
        await pool.execute(RANKED_INSERT, now, address, rank, D(1) / rank, D(10**6) * rank, D(50000) // rank,
                           D("0.8") / rank, D("0.6"))
    await pool.execute(ACCOUNT_INSERT, "main", "binance", "read", None, b"x" * 40, "{}", now)
    await pool.execute(ITEM_INSERT, "BTC-USDT-PERP", D("0.5"), D("60000"), D("500"), D("1.67"), D("61000"),
                       D("30500"), now)
    await pool.execute(ITEM_INSERT, "USDT", D("1000.01"), None, None, None, D(1), D("1000.01"), now)
    await pool.execute("INSERT INTO portfolio_snapshots (account, ts, value_usd) VALUES ('main', $1, $2)",
                       now, D("31500.01"))
    await pool.execute(HEDGE_INSERT, now)


async def statuses(redis: aioredis.Redis, settings: Settings, now: int) -> None:
    """A feed with data, a failing one whose name is markup, and a poller's success."""
    prefix = settings.streams.prefix
    feeds = [FeedStatus(feed="binance:0", exchange="binance", connected=True, at=now, last_data_ts=now,
                        connected_since=now, idle_timeout_s=30),
             FeedStatus(feed=MARKUP_FEED, exchange="okx", connected=False, at=now, failures=3,
                        reason="refused", reconnects=3, idle_timeout_s=30)]
    await write_feed_statuses(redis, prefix, feeds, 600)
    await record_poll(redis, prefix, PollStatus(function="funding", venue="bybit", ok=True, at=now, events=40,
                                                last_ok=now), 600)


@pytest.fixture
async def heartbeats(redis: aioredis.Redis, settings: Settings) -> AsyncIterator[None]:
    """Every service beating, as its process does."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(beat_forever(redis, settings, service, stop)) for service in SERVICES]
    yield
    stop.set()
    await asyncio.gather(*tasks)


def liquidation(n: int, price: str) -> Liquidation:
    now = now_us()
    return Liquidation(exchange="bybit", symbol="ETH-USDT-PERP", raw_symbol="ETHUSDT", side="sell",
                       price=D(price), size=D(n), usd_value=D(price) * n, ts=now, recv_ts=now)


def rows(page: Page, table: str) -> Locator:
    return page.locator(f"#{table}-rows tr:not(.empty)")


async def check_market(page: Page) -> None:
    """Health, feeds, the spread table and the leaderboard, from the polled routes."""
    await expect(page.locator("#status")).to_have_text("ready", timeout=WAIT_MS)
    spread = rows(page, "spread")  # BTC (three venues, 30 %) above ETH (4 %); SOL has one venue
    await expect(spread).to_have_count(2, timeout=WAIT_MS)
    assert (await spread.nth(0).locator("td").all_inner_texts()) == [
        "BTC", "3", "okx -5.00 %", "bybit 25.00 %", "30.00 %"]
    assert (await spread.nth(1).locator("td").first.inner_text()) == "ETH"
    await expect(rows(page, "health")).to_have_count(2 + len(SERVICES) + 1, timeout=WAIT_MS)
    await expect(page.locator("#feeds-rows")).to_contain_text(MARKUP_FEED)  # a name is text, never markup
    assert await page.locator("#feeds-rows b").count() == 0
    await expect(rows(page, "pollers")).to_have_count(1)
    await expect(rows(page, "leaders")).to_have_count(3, timeout=WAIT_MS)


async def check_live(page: Page, redis: aioredis.Redis, settings: Settings) -> None:
    """Published after the page opened: shown newest first within seconds."""
    await expect(page.locator("#push-state")).to_have_text("push: live", timeout=WAIT_MS)
    await publish(redis, settings, [liquidation(2, "3000.5")])
    live = rows(page, "live")
    await expect(live).to_have_count(1, timeout=WAIT_MS)
    trade = LargeTrade(exchange="binance", symbol="BTC-USDT-PERP", trade_id="9", side="buy",
                       price=D("61000.1"), size=D(5), usd_value=D("305000.5"), threshold=D(100000),
                       ts=now_us(), recv_ts=now_us())
    await publish(redis, settings, [liquidation(40, "2999.75"), trade])
    await expect(live).to_have_count(3, timeout=WAIT_MS)
    assert await live.nth(0).locator("td").nth(1).inner_text() == "large trade"
    assert (await live.nth(1).locator("td").all_inner_texts())[1:] == [
        "liquidation", "bybit", "ETH-USDT-PERP", "sell", "2999.75", "40", "119,990"]


async def check_keyed(page: Page, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
    """Without a key the account sections ask for one; with it they fill and a rule's firing arrives."""
    await expect(page.locator("#alerts-rows")).to_contain_text("enter an API key")
    await expect(page.locator("#portfolio-rows")).to_contain_text("enter an API key")
    await page.fill("#key-input", await key(pool, "account:read"))
    await page.click("#key-form button[type=submit]")
    await expect(rows(page, "portfolio")).to_have_count(2, timeout=WAIT_MS)
    await expect(page.locator("#portfolio-total")).to_have_text("total 31,500.01 USD")
    await expect(rows(page, "hedges")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator("#alerts-rows")).to_contain_text("no rule has fired yet", timeout=WAIT_MS)
    await expect(page.locator("#push-state")).to_have_text("push: live", timeout=WAIT_MS)
    assert await page.evaluate("localStorage.getItem('tradehub.apiKey')") is not None
    await asyncio.sleep(0.5)  # the new socket's subscribe requests reach the server
    title = "funding annualized above 20 % on bybit"
    firing = Alert(source="rules", severity="critical", key="rule:1:x", title=title, text="rule 1 (funding)",
                   ts=now_us(), recv_ts=now_us())
    await publish(redis, settings, [firing])
    await expect(rows(page, "alerts")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator("#alerts-rows")).to_contain_text(title)


class Watched:
    """What went wrong in a browser session: script errors, console errors (a CSP violation is
    one), and every answer's status."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.answered: list[tuple[int, str]] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.failures.append(f"script: {error}"))
        page.on("response", self.response)
        return page

    def console(self, message: ConsoleMessage) -> None:
        # a 404 (an asset without fresh funding) is logged by the browser, and is fine
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.failures.append(f"console: {message.text}")

    def response(self, answer: Response) -> None:
        self.answered.append((answer.status, answer.url))

    def check(self) -> None:
        assert self.failures == []
        # within the rate limits; /ready's 503 (a service not running) is its answer, shown on the page
        assert [(status, url) for status, url in self.answered
                if status == 429 or status >= 500 and not (status == 503 and url.endswith("/ready"))] == []


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # its absence is a failure that says how to get it, never a skip
        pytest.fail("chromium is not installed: `make chromium` (as root: apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))  # never a download
        try:
            yield browser
        finally:
            await browser.close()


async def test_dashboard_in_chromium(make_settings: Callable[..., Settings], pool: asyncpg.Pool,
                                     redis: aioredis.Redis, heartbeats: None,
                                     aiohttp_server: AiohttpServer) -> None:
    settings = make_settings()  # the default rate limits: the page must live within them
    now = now_us()
    await seed(pool, now)
    await statuses(redis, settings, now)
    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("/"))
    ARTIFACTS.mkdir(exist_ok=True)
    desktop, mobile = ARTIFACTS / "dashboard.png", ARTIFACTS / "dashboard-phone.png"
    watched = Watched()
    async with chromium() as browser:
        page = watched.watch(await browser.new_page(viewport={"width": 1280, "height": 900}))
        await page.goto(base)
        await check_market(page)
        await check_live(page, redis, settings)
        await check_keyed(page, pool, redis, settings)
        await page.screenshot(path=str(desktop), full_page=True)

        phone = watched.watch(await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True))
        await phone.goto(base)
        await expect(rows(phone, "spread")).to_have_count(2, timeout=WAIT_MS)
        await phone.fill("#key-input", await key(pool, "account:read"))
        await phone.click("#key-form button[type=submit]")
        await expect(rows(phone, "portfolio")).to_have_count(2, timeout=WAIT_MS)
        overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        clipped = await phone.evaluate(CLIPPED_TABLES)
        await phone.screenshot(path=str(mobile), full_page=True)
    print(f"\nscreenshots: {desktop} {mobile}")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone's screen"
    assert clipped == [], "tables wider than their card on a phone (mark secondary columns opt)"
    watched.check()


async def test_dashboard_shows_the_simulated_markets_liquidations(
    tag: str, tmp_path: Path, make_settings: Callable[..., Settings], pool: asyncpg.Pool,
    redis: aioredis.Redis, aiohttp_server: AiohttpServer
) -> None:
    """The simulator's Binance liquidation frames, through the real receivers process and th:liquidations,
    appear on the open page within seconds; the receivers' own feed status and heartbeat show."""
    stack = Stack(tag, tmp_path, binance_channels="liquidations", ws_status_interval_s="1")
    watched = Watched()
    try:
        stack.start("simulator")
        stack.wait_for("simulator", "/stats")
        stack.start("receivers")
        server = await aiohttp_server(create_app(make_settings()))
        async with chromium() as browser:
            page = watched.watch(await browser.new_page(viewport={"width": 1280, "height": 900}))
            await page.goto(str(server.make_url("/")))
            await expect(page.locator("#push-state")).to_have_text("push: live", timeout=WAIT_MS)
            live = rows(page, "live")
            await expect(live.first).to_contain_text("liquidation", timeout=SIMULATED_WAIT_MS)
            cells = await live.first.locator("td").all_inner_texts()
            assert cells[2] == "binance" and cells[3] in ("BTC-USDT-PERP", "ETH-USDT-PERP"), cells
            feed = page.locator("#feeds-rows tr", has_text="binance")
            await expect(feed.first).to_contain_text("ok", timeout=WAIT_MS)
            receivers = page.locator("#health-rows tr", has_text="receivers")
            await expect(receivers).to_contain_text("heartbeat", timeout=WAIT_MS)
            await page.screenshot(path=str(ARTIFACTS / "dashboard-simulator.png"), full_page=True)
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from exc
    finally:
        stack.stop_all()
    watched.check()
