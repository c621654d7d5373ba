"""``GET /`` of ``serve``: a small status page that refreshes itself from ``/status``.

No external assets and no charting library: one table of the symbols (quality per interval,
bars, open gaps, the newest bar and its lag, quote coverage) under a header with the session,
its state, the session clock and the provider's state, redrawn every :data:`REFRESH_SECONDS`
(``/?refresh=SECONDS`` for another period).
After each redraw ``<body>`` carries ``data-updated`` (how many) — what a browser test waits for.
"""

from __future__ import annotations

__all__ = ["REFRESH_SECONDS", "STATUS_PAGE"]

REFRESH_SECONDS = 2

STATUS_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>marketsession status</title>
<meta name=viewport content="width=device-width,initial-scale=1">
<link rel=icon href="data:,">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{margin:0 0 4px;font-size:20px}.sub{color:#666;margin:0 0 12px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.bad{color:#d62728;font-weight:600}.ok{color:#2ca02c}
#error{color:#d62728}
</style></head><body>
<h1 id=session>marketsession</h1>
<p class=sub id=summary>loading…</p>
<p id=provider></p>
<table id=symbols><thead></thead><tbody></tbody></table>
<p id=error></p>
<script>
"use strict";
let updates = 0;
const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls; return td; };
const hhmm = ts => ts == null ? "—" : new Date(ts * 1000).toISOString().slice(11, 19) + "Z";
function draw(status) {
  document.getElementById("session").textContent = status.session;
  document.getElementById("summary").textContent =
    `${status.state} · day ${status.day ?? "—"} · clock ${hhmm(status.now_ts)} · ` +
    `${Object.keys(status.symbols).length} symbol(s) · ${status.counters.stored ?? 0} bars stored`;
  const provider = document.getElementById("provider");
  provider.textContent = `provider: ${status.provider.state}` +
    (status.provider.detail ? ` (${status.provider.detail})` : "") +
    (status.stalled.length ? ` · stalled: ${status.stalled.join("; ")}` : "");
  provider.className = status.provider.state === "connected" && !status.stalled.length ? "ok" : "bad";
  const intervals = [...new Set(Object.values(status.symbols).flatMap(s => Object.keys(s.quality)))];
  const head = document.querySelector("#symbols thead");
  head.replaceChildren(document.createElement("tr"));
  const columns = ["bars", "open gaps", "newest bar", "lag s", "quotes %"];
  for (const name of ["symbol", ...intervals.map(i => `${i} %`), ...columns])
    head.firstChild.append(Object.assign(document.createElement("th"), {textContent: name}));
  const body = document.querySelector("#symbols tbody");
  body.replaceChildren(...Object.entries(status.symbols).map(([symbol, s]) => {
    const row = document.createElement("tr");
    row.dataset.symbol = symbol;
    row.append(cell(symbol));
    for (const i of intervals) { const q = s.quality[i];
      row.append(cell(q == null ? "—" : q.toFixed(2), q != null && q < 99 ? "bad" : "")); }
    row.append(cell(Object.values(s.bars).reduce((a, b) => a + b, 0)));
    row.append(cell(s.open_gaps, s.open_gaps ? "bad" : ""));
    row.append(cell(hhmm(s.newest_bar_ts)), cell(s.lag_seconds ?? "—"));
    row.append(cell(s.quotes ? s.quotes.coverage.toFixed(2) : "—"));
    return row;
  }));
  document.getElementById("error").textContent = "";
  document.body.dataset.updated = String(++updates);
}
async function refresh() {
  try {
    const answer = await fetch("/status", {cache: "no-store"});
    if (answer.ok) draw(await answer.json());
    else document.getElementById("error").textContent = `/status answered ${answer.status}`;
  } catch (error) {
    document.getElementById("error").textContent = `/status: ${error}`;
  }
  setTimeout(refresh, REFRESH_MS);
}
const asked = Number(new URLSearchParams(location.search).get("refresh"));  // ?refresh=SECONDS
const REFRESH_MS = (asked > 0 ? asked : @REFRESH@) * 1000;
refresh();
</script>
</body></html>
""".replace("@REFRESH@", str(REFRESH_SECONDS))
