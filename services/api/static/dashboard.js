// tradehub dashboard: polls the API's routes and listens on /ws. Every value reaches the page as
// text (Node.append of strings, textContent), never as HTML.
//
// Rate limits (services/api/ratelimit.py, default settings): /ready is exempt; the rest costs
// (1 + SPREAD_ASSETS) requests per POLL_MS.spread plus one per POLL_MS.leaders, about 0.6 request/s,
// against 5/s (burst 30) per address without a key and 20/s per key; the account routes, 2 per
// POLL_MS.account, against 5/s per key. A 429 postpones that poll by its Retry-After.

const KEY_STORE = "tradehub.apiKey";
const POLL_MS = { ready: 5000, spread: 15000, leaders: 60000, account: 30000 };
const SPREAD_ASSETS = 8; // the assets quoted by most venues
const LIVE_ROWS = 50;
const ALERT_ROWS = 30;
const PUSH_BACKOFF_MS = { first: 1000, max: 30000 };

const $ = (id) => document.getElementById(id);

// --- the key: kept in this browser only, sent as Authorization: Bearer (and ?api_key= on /ws)

function apiKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

function keyHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

class Throttled extends Error {
  constructor(seconds) {
    super(`rate limited: retrying in ${seconds} s`);
    this.retryAfterMs = seconds * 1000;
  }
}

async function getJSON(path) {
  const response = await fetch(path, { headers: keyHeaders(), cache: "no-store" });
  if (response.status === 429) throw new Throttled(Number(response.headers.get("Retry-After")) || 5);
  const body = await response.json().catch(() => null);
  return { status: response.status, body };
}

// --- building the page from text

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

// A cell: text, or {text, class} for a coloured or right-aligned one.
function cell(value) {
  if (value !== null && typeof value === "object" && !(value instanceof Node)) {
    return el("td", { class: value.class }, value.text);
  }
  return el("td", {}, value);
}

function row(cells, cls) {
  return el("tr", { class: cls }, ...cells.map(cell));
}

function fill(id, rows, empty) {
  const body = $(id);
  const columns = body.closest("table").querySelectorAll("thead th").length;
  body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: columns }, empty))]));
}

function note(id, text) {
  $(id).textContent = text || "";
}

// --- formatting (display only: the API's numbers are exact decimal strings)

const fmt = {
  num(text, digits = 2) {
    if (text === null || text === undefined) return "–";
    const n = Number(text);
    return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : String(text);
  },
  pct(fraction) {
    if (fraction === null || fraction === undefined) return "–";
    return `${(Number(fraction) * 100).toFixed(2)} %`;
  },
  age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Number(seconds);
    if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s ago`;
    if (s < 7200) return `${Math.round(s / 60)} min ago`;
    return `${Math.round(s / 3600)} h ago`;
  },
  time(us) {
    return new Date(Number(us) / 1000).toISOString().slice(11, 19);
  },
  short(address) {
    return address.length > 14 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
  },
};

const n = (text, digits) => ({ text: fmt.num(text, digits), class: "n" });
const mark = (ok) => ({ text: ok ? "ok" : "no", class: ok ? "ok" : "bad" });
const side = (text) => ({ text, class: text === "buy" ? "buy" : text === "sell" ? "sell" : "" });
// A secondary column, hidden on a phone (class opt in the table's head too).
const opt = (value) => (value !== null && typeof value === "object" && !(value instanceof Node)
  ? { ...value, class: `${value.class || ""} opt` } : { text: value, class: "opt" });
const signed = (text, digits) => ({
  text: fmt.num(text, digits), class: text === null || text === undefined ? "n" : `n ${Number(text) < 0 ? "sell" : "buy"}`,
});

// --- health and feeds, from /ready (exempt from the rate limits)

async function showReady() {
  const { status, body } = await getJSON("/ready");
  if (!body || typeof body !== "object") throw new Error(`/ready answered ${status}`);
  const badge = $("status");
  badge.textContent = body.status;
  badge.className = `badge ${body.status === "ready" ? "ok" : "bad"}`;
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;

  const parts = [["redis", body.redis], ["postgres", body.postgres]];
  for (const [name, service] of Object.entries(body.services || {})) parts.push([name, service]);
  const rows = parts.map(([name, part]) => row([name, mark(part.ok),
    part.ok ? (part.age_s !== undefined ? `heartbeat ${fmt.age(part.age_s)}` : "") : part.error || ""]));
  const streams = body.streams || {};
  rows.push(row(["streams", mark(streams.ok),
    [...(streams.problems || []).map(String), `${streams.dlq_total ?? 0} in dead-letter queues`].join("; ")]));
  if (body.traders && body.traders.enabled) {
    rows.push(row(["trader tracker", mark(body.traders.ok), body.traders.error || fmt.age(body.traders.age_s)]));
  }
  fill("health-rows", rows, "no answer");

  const feeds = Object.entries((body.feeds && body.feeds.by_feed) || {}).sort(([a], [b]) => a.localeCompare(b));
  fill("feeds-rows", feeds.map(([name, feed]) => row([name, opt(feed.exchange),
    { text: feed.reason ? `${feed.state}: ${feed.reason}` : feed.state, class: feed.ok ? "ok wrap" : "bad wrap" },
    { text: fmt.age(feed.silent_s), class: "n" }, opt(n(feed.reconnects, 0))])), "no websocket feed reports");

  const polls = [];
  for (const [fn, venues] of Object.entries(body.pollers || {})) {
    for (const [venue, poll] of Object.entries(venues || {})) {
      polls.push(row([fn, venue, poll.ok ? mark(true) : { text: poll.error || "failing", class: "bad wrap" },
        { text: fmt.age(poll.age_s), class: "n" }, opt(n(poll.events, 0))]));
    }
  }
  fill("pollers-rows", polls, "no REST poller reports");
}

// --- funding spreads: the assets quoted by most venues, each from /api/v1/funding/spread

async function showSpread() {
  const { status, body } = await getJSON("/api/v1/funding?limit=1000");
  if (status !== 200) throw new Error((body && body.error) || `funding answered ${status}`);
  const venues = new Map(); // base asset -> the venues quoting it
  for (const rate of body.funding) {
    const base = rate.symbol.split("-")[0];
    if (!venues.has(base)) venues.set(base, new Set());
    venues.get(base).add(rate.exchange);
  }
  const assets = [...venues].filter(([, v]) => v.size >= 2)
    .sort(([a, x], [b, y]) => y.size - x.size || a.localeCompare(b)).slice(0, SPREAD_ASSETS).map(([a]) => a);
  const answers = await Promise.all(assets.map((asset) =>
    getJSON(`/api/v1/funding/spread?symbol=${encodeURIComponent(asset)}`)));
  const spreads = answers.filter((a) => a.status === 200 && a.body.spread !== null).map((a) => a.body)
    .sort((a, b) => Number(b.spread) - Number(a.spread));
  const leg = (l) => el("span", { title: l.symbol }, `${l.exchange} ${fmt.pct(l.annualized)}`);
  fill("spread-rows", spreads.map((s) => row([s.symbol, opt(n(s.count, 0)), leg(s.long), leg(s.short),
    { text: fmt.pct(s.spread), class: "n" }])), "no asset with fresh funding on two venues");
  note("spread-note", spreads.length ? "long where funding is lowest, short where it is highest" : "");
}

// --- liquidations, large trades and alerts: the newest first, then live over /ws

const seen = new Set(); // events already shown (REST and /ws may both bring one)

function liveRow(kind, e) {
  const id = `${kind}|${e.exchange}|${e.symbol}|${e.ts}|${e.side}|${e.price}|${e.size}`;
  if (seen.has(id)) return null;
  seen.add(id);
  return row([opt(fmt.time(e.ts)), kind === "liquidation" ? { text: "liquidation", class: "warn" } : "large trade",
    e.exchange, e.symbol, side(e.side), opt({ text: e.price, class: "n" }), opt({ text: e.size, class: "n" }),
    n(e.usd_value, 0)]);
}

function alertRow(a) {
  const severity = { text: a.severity, class: a.severity === "critical" ? "bad" : a.severity === "warning" ? "warn" : "" };
  return row([fmt.time(a.ts), severity, { text: a.text ? `${a.title}: ${a.text}` : a.title, class: "wrap" }]);
}

function prepend(id, tr, max) {
  const body = $(id);
  body.querySelector("tr.empty")?.remove();
  tr.classList.add("fresh");
  body.prepend(tr);
  while (body.rows.length > max) body.lastElementChild.remove();
}

async function showRecent() {
  const [liquidations, large] = await Promise.all([getJSON("/api/v1/liquidations?limit=25"),
    getJSON("/api/v1/large-trades?limit=25")]);
  const events = [
    ...(liquidations.status === 200 ? liquidations.body.liquidations : []).map((e) => ["liquidation", e]),
    ...(large.status === 200 ? large.body.large_trades : []).map((e) => ["large_trade", e]),
  ].sort(([, a], [, b]) => b.ts - a.ts);
  fill("live-rows", events.map(([kind, e]) => liveRow(kind, e)).filter(Boolean).slice(0, LIVE_ROWS),
    "none yet: new ones appear here as they happen");
}

async function showRecentAlerts() {
  if (!apiKey()) {
    fill("alerts-rows", [], "enter an API key to see your alert rules firing");
    return;
  }
  const { status, body } = await getJSON(`/api/v1/alerts?limit=${ALERT_ROWS}`);
  if (status !== 200) {
    fill("alerts-rows", [], `alerts: ${(body && body.error) || status}`);
    return;
  }
  fill("alerts-rows", body.alerts.map(alertRow), "no rule has fired yet");
}

let push = null;
let pushDelay = PUSH_BACKOFF_MS.first;

function setPushState(text, ok) {
  const badge = $("push-state");
  badge.textContent = `push: ${text}`;
  badge.className = `badge ${ok ? "ok" : "bad"}`;
}

function connectPush() {
  const url = new URL("/ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const key = apiKey();
  if (key) url.searchParams.set("api_key", key); // a browser cannot set headers on a WebSocket
  const ws = new WebSocket(url);
  push = ws;
  ws.onopen = () => {
    pushDelay = PUSH_BACKOFF_MS.first;
    setPushState("live", true);
    const topics = key ? ["liquidations", "large_trades", "alerts"] : ["liquidations", "large_trades"];
    for (const topic of topics) ws.send(JSON.stringify({ op: "subscribe", topic }));
  };
  ws.onmessage = (message) => {
    const m = JSON.parse(message.data);
    if (m.type === "event" && m.topic === "alerts") {
      prepend("alerts-rows", alertRow(m.data), ALERT_ROWS);
    } else if (m.type === "event") {
      const tr = liveRow(m.topic === "liquidations" ? "liquidation" : "large_trade", m.data);
      if (tr) prepend("live-rows", tr, LIVE_ROWS);
    } else if (m.type === "notice") {
      note("live-note", `${m.dropped} pushed events were dropped (this page fell behind)`);
    } else if (m.type === "error") {
      note(String(m.error).startsWith("alerts") ? "alerts-note" : "live-note", m.error);
    }
  };
  ws.onclose = () => {
    if (push !== ws) return; // replaced on purpose (a new key)
    setPushState(`reconnecting in ${Math.round(pushDelay / 1000)} s`, false);
    setTimeout(connectPush, pushDelay);
    pushDelay = Math.min(pushDelay * 2, PUSH_BACKOFF_MS.max);
  };
}

function reconnectPush() {
  const old = push;
  push = null;
  old?.close();
  connectPush();
}

// --- the leaderboard

async function showLeaders() {
  const { status, body } = await getJSON("/api/v1/traders/leaderboard?limit=20");
  if (status !== 200) throw new Error((body && body.error) || `leaderboard answered ${status}`);
  fill("leaders-rows", body.traders.map((t) => row([n(t.rank, 0),
    el("a", { href: `/api/v1/traders/${encodeURIComponent(t.address)}`, title: t.address }, fmt.short(t.address)),
    opt(n(t.score, 3)), signed(t.realized_pnl, 0), { text: fmt.pct(t.roi), class: "n" },
    opt({ text: fmt.pct(t.win_rate), class: "n" }), opt(n(t.volume, 0))])), "no leaderboard snapshot yet");
  note("leaders-note", body.snapshot_ts ? `snapshot of ${new Date(body.snapshot_ts / 1000).toLocaleString()}` : "");
}

// --- your accounts (a key with account:read)

async function showAccounts() {
  if (!apiKey()) {
    for (const id of ["portfolio", "hedges"]) fill(`${id}-rows`, [], "enter an API key with account:read");
    $("portfolio-total").textContent = "";
    return;
  }
  const [portfolio, hedges] = await Promise.all([getJSON("/api/v1/portfolio"), getJSON("/api/v1/hedges")]);
  if (portfolio.status === 200) {
    const items = portfolio.body.accounts.flatMap((a) => a.items);
    fill("portfolio-rows", items.map((i) => row([i.account, i.asset, opt(i.exchange), opt({ text: i.quantity, class: "n" }),
      opt(n(i.avg_entry, 4)), opt(n(i.price, 4)), n(i.value_usd, 2), signed(i.unrealized_pnl, 2),
      opt({ text: i.pnl_pct === null ? "–" : `${fmt.num(i.pnl_pct, 2)} %`, class: "n" })])), "no holdings yet");
    $("portfolio-total").textContent = `total ${fmt.num(portfolio.body.total_usd, 2)} USD`;
  } else {
    fill("portfolio-rows", [], `portfolio: ${(portfolio.body && portfolio.body.error) || portfolio.status}`);
  }
  if (hedges.status === 200) {
    fill("hedges-rows", hedges.body.hedges.map((h) => row([h.pool, h.asset, opt(n(h.required, 4)), opt(n(h.held, 4)),
      signed(h.drift, 4), { text: h.drift_pct === null ? "–" : `${fmt.num(h.drift_pct, 2)} %`, class: "n" },
      opt(n(h.drift_usd, 0))])), "no hedge monitor output yet");
  } else {
    fill("hedges-rows", [], `hedges: ${(hedges.body && hedges.body.error) || hedges.status}`);
  }
}

function showKeyState() {
  const key = apiKey();
  $("key-state").textContent = key ? `key ${key.slice(0, 11)}… in use` : "no key";
}

// --- polling: each task on its own interval, paused while the tab is hidden

function every(ms, task, noteId) {
  const run = async () => {
    let wait = ms;
    if (!document.hidden) {
      try {
        await task();
        if (noteId) note(noteId, "");
      } catch (err) {
        if (err instanceof Throttled) wait = Math.max(ms, err.retryAfterMs);
        if (noteId) note(noteId, String(err.message || err));
      }
    }
    setTimeout(run, wait);
  };
  run();
}

function start() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("key-input");
    const key = input.value.trim();
    if (!key) return;
    localStorage.setItem(KEY_STORE, key);
    input.value = "";
    showKeyState();
    showAccounts().catch((err) => note("portfolio-note", String(err.message || err)));
    showRecentAlerts().catch((err) => note("alerts-note", String(err.message || err)));
    reconnectPush();
  });
  $("key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORE);
    showKeyState();
    showAccounts();
    showRecentAlerts();
    reconnectPush();
  });
  showKeyState();
  every(POLL_MS.ready, showReady, "updated");
  every(POLL_MS.spread, showSpread, "spread-note");
  every(POLL_MS.leaders, showLeaders, "leaders-note");
  every(POLL_MS.account, showAccounts, "portfolio-note");
  showRecent().catch((err) => note("live-note", String(err.message || err)));
  showRecentAlerts().catch((err) => note("alerts-note", String(err.message || err)));
  connectPush();
}

start();
