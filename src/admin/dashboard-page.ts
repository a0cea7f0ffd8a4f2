// The dashboard at / on the admin server: one HTML page, no framework, uPlot for the charts
// (served from node_modules by dashboard.ts). Every second it asks /clusters (endpoints
// now: state, ejection, imbalance) and /history?since=<last sample> (the sampler's new 1 s
// samples, as columns), appends the columns to the last 5 minutes it keeps and redraws.
//
// The browser script is a string here, not a compiled module: it is what the browser runs
// as is, and it ends up in dist/ with the rest. For tests it publishes what it plotted as
// window.__sluiceDashboard.plotted() (read back from the uPlot instances) and marks rows
// and badges with data attributes (data-endpoint, data-ejected, data-badge).

const STYLE = `
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { margin: 0; }
  header { display: flex; gap: 1.5rem; align-items: baseline; padding: .6rem 1.2rem; background: #1d2330; color: #f6f7f9; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header a { color: #9cc3ff; }
  #status[data-status="error"] { color: #ff9c9c; }
  main { padding: .6rem 1.2rem; }
  section.destination { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; margin: 0 0 1rem; padding: .6rem .9rem; }
  section.destination h2 { font-size: 1rem; margin: .2rem 0 .5rem; display: flex; gap: 1rem; flex-wrap: wrap; align-items: baseline; }
  .muted { color: #69707d; font-weight: normal; font-size: .85rem; }
  .imbalance { font-weight: normal; font-size: .9rem; }
  .imbalance[data-high="true"] { color: #b3261e; font-weight: 600; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: .6rem; }
  .chart { min-width: 0; overflow: hidden; }
  .chart .u-legend { font-size: .8rem; }
  table.endpoints { border-collapse: collapse; width: 100%; margin-top: .5rem; font-size: .85rem; }
  table.endpoints th, table.endpoints td { text-align: right; padding: .25rem .5rem; border-bottom: 1px solid #eceef2; white-space: nowrap; }
  table.endpoints :is(th, td):is(:first-child, :nth-child(2), :nth-child(3)) { text-align: left; }
  table.endpoints tr[data-ejected="true"] td { background: #fff3f2; }
  .badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .75rem; font-weight: 600; margin-right: .25rem; }
  .badge-healthy { background: #e3f4e8; color: #1e6b34; }
  .badge-ejected { background: #b3261e; color: #fff; }
  .badge-unhealthy { background: #f9dcc4; color: #8a3b00; }
  .badge-panic { background: #b3261e; color: #fff; }
  .swatch { display: inline-block; width: .7rem; height: .7rem; border-radius: 2px; margin-right: .35rem; vertical-align: -1px; }
`;

const SCRIPT = String.raw`
"use strict";
(() => {
  const POLL_MS = 1000;
  /** The sampler keeps 5 minutes; so does the page. */
  const KEEP_MS = 5 * 60 * 1000;
  const FIELDS = ["rps", "activeRequests", "connections", "pinnedConnections"];
  const CHARTS = [
    { key: "rps", title: "requests/s per endpoint (10 s window)", digits: 1 },
    { key: "activeRequests", title: "active requests per endpoint", digits: 0 },
    { key: "connections", title: "connections per endpoint", digits: 0 },
  ];
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  /** Above this max/mean the figure is shown in red (the imbalance warning's default threshold). */
  const HIGH_IMBALANCE = 1.5;

  /** cluster -> { host, t[], endpoints: Map<key, columns>, view, charts: Map, seriesKey } */
  const destinations = new Map();
  /** cluster -> the /clusters entry, for labels, states and the table. */
  let now = new Map();
  let since = 0;
  const root = document.getElementById("destinations");
  const status = document.getElementById("status");
  const state = { polls: 0, errors: 0, lastError: null, plotted };
  window.__sluiceDashboard = state;

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v;
      else e.setAttribute(k, String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  async function getJson(path) {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  /** A pod label when the endpoint has one (the demo's pod-1...), else its address. */
  function labelOf(cluster, key) {
    const e = now.get(cluster)?.endpoints.find((x) => x.endpoint === key);
    const pod = e?.labels?.pod;
    return pod ? pod + " (" + key + ")" : key;
  }

  /** Appends a /history answer's columns to what the page keeps, dropping what is older than KEEP_MS. */
  function merge(history) {
    const seen = new Set();
    for (const d of history.destinations) {
      seen.add(d.cluster);
      let s = destinations.get(d.cluster);
      if (!s) {
        s = { cluster: d.cluster, host: d.host, t: [], endpoints: new Map(), view: null, charts: new Map(), seriesKey: "" };
        destinations.set(d.cluster, s);
      }
      const before = s.t.length;
      for (const t of d.t) s.t.push(t);
      for (const e of d.endpoints) {
        let cols = s.endpoints.get(e.endpoint);
        if (!cols) {
          cols = {};
          for (const f of FIELDS) cols[f] = new Array(before).fill(null);
          s.endpoints.set(e.endpoint, cols);
        }
        for (const f of FIELDS) for (const v of e[f]) cols[f].push(v);
      }
      // Endpoints not in this answer (gone, for now) get gaps.
      for (const cols of s.endpoints.values()) for (const f of FIELDS) while (cols[f].length < s.t.length) cols[f].push(null);
      const last = s.t[s.t.length - 1];
      if (last !== undefined) {
        since = Math.max(since, last);
        let drop = 0;
        while (drop < s.t.length && s.t[drop] < last - KEEP_MS) drop++;
        if (drop > 0) {
          s.t.splice(0, drop);
          for (const [key, cols] of s.endpoints) {
            for (const f of FIELDS) cols[f].splice(0, drop);
            if (cols.rps.every((v) => v === null)) s.endpoints.delete(key);
          }
        }
      }
    }
    // A reload removed these destinations.
    for (const [cluster, s] of destinations) {
      if (!seen.has(cluster)) {
        for (const c of s.charts.values()) c.destroy();
        s.view?.remove();
        destinations.delete(cluster);
      }
    }
  }

  function chartWidth(holder) {
    return Math.max(300, Math.floor(holder.clientWidth || 360));
  }

  function chartOptions(spec, keys, cluster, width) {
    const fmt = (v) => (v === null || v === undefined ? "-" : v.toFixed(spec.digits));
    return {
      title: spec.title,
      width,
      height: 220,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(spec.digits > 0 ? 1 : 2, (max || 0) * 1.1)] } },
      series: [
        { label: "time" },
        ...keys.map((key, i) => ({ label: labelOf(cluster, key), stroke: COLORS[i % COLORS.length], width: 2, value: (_u, v) => fmt(v) })),
      ],
      axes: [{}, { size: 50 }],
      legend: { live: true },
    };
  }

  function chartData(s, keys, field) {
    return [s.t.map((t) => t / 1000), ...keys.map((k) => s.endpoints.get(k)[field])];
  }

  /** The connections chart: downstream connections pinned per endpoint in connection mode, else upstream ones. */
  function connectionField(s) {
    for (const cols of s.endpoints.values()) if (cols.pinnedConnections.some((v) => v > 0)) return "pinnedConnections";
    return "connections";
  }

  function draw(s) {
    if (!s.view) {
      s.view = h("section", { class: "destination", "data-cluster": s.cluster });
      s.view.append(h("h2", {}), h("div", { class: "charts" }), h("table", { class: "endpoints" }));
      root.append(s.view);
    }
    const keys = [...s.endpoints.keys()].sort((a, b) => labelOf(s.cluster, a).localeCompare(labelOf(s.cluster, b), undefined, { numeric: true }));
    const connections = connectionField(s);
    const seriesKey = keys.map((k) => labelOf(s.cluster, k)).join("|") + "|" + connections;
    const holder = s.view.querySelector(".charts");
    if (seriesKey !== s.seriesKey) {
      for (const c of s.charts.values()) c.destroy();
      s.charts.clear();
      holder.replaceChildren();
      // All the grid's cells first, so each chart is sized to its own column.
      const divs = CHARTS.map((spec) => h("div", { class: "chart", "data-chart": spec.key }));
      holder.append(...divs);
      CHARTS.forEach((spec, i) => {
        const shown = spec.key === "connections" && connections === "pinnedConnections" ? { ...spec, title: "downstream connections pinned per endpoint" } : spec;
        const div = divs[i];
        s.charts.set(spec.key, new uPlot(chartOptions(shown, keys, s.cluster, chartWidth(div)), chartData(s, keys, spec.key === "connections" ? connections : spec.key), div));
      });
      s.seriesKey = seriesKey;
      s.keys = keys;
    } else {
      for (const spec of CHARTS) s.charts.get(spec.key).setData(chartData(s, keys, spec.key === "connections" ? connections : spec.key));
    }
    drawHeading(s);
    drawTable(s, keys);
  }

  function fixed(v, digits) {
    return typeof v === "number" ? v.toFixed(digits) : "-";
  }

  function drawHeading(s) {
    const c = now.get(s.cluster);
    const heading = s.view.querySelector("h2");
    const imbalance = c?.imbalance;
    const high = imbalance ? Math.max(imbalance.requestRate, imbalance.activeRequests) > HIGH_IMBALANCE : false;
    const od = c?.outlierDetection;
    const parts = [
      s.host,
      h("span", { class: "muted" }, s.cluster + (c ? " · " + c.loadBalancer : "")),
      h(
        "span",
        { class: "imbalance", "data-high": high, "data-request-rate": imbalance?.requestRate ?? "", "data-active-requests": imbalance?.activeRequests ?? "", title: "max / mean over the endpoints; 1 = even" },
        "imbalance (max/mean): request rate " + fixed(imbalance?.requestRate, 2) + "×, active requests " + fixed(imbalance?.activeRequests, 2) + "×",
      ),
      od ? h("span", { class: "muted" }, "ejections: " + od.ejectionsActive + " active, " + od.ejectionsTotal + " total") : null,
      c?.panic ? h("span", { class: "badge badge-panic", "data-badge": "panic" }, "panic") : null,
    ];
    heading.replaceChildren(...parts.filter((p) => p !== null));
  }

  const COLUMNS = ["endpoint", "state", "health", "rps", "active", "connections", "pinned", "requests", "errors", "ejected (times)"];

  function drawTable(s, keys) {
    const c = now.get(s.cluster);
    const table = s.view.querySelector("table.endpoints");
    const body = h("tbody", {});
    for (const e of c?.endpoints ?? []) {
      const i = keys.indexOf(e.endpoint);
      const badges = [];
      if (e.ejected) {
        const why = e.ejection ? e.ejection.reason + ", for " + Math.round(e.ejection.forMs / 1000) + " s" : "";
        badges.push(h("span", { class: "badge badge-ejected", "data-badge": "ejected", title: why }, "ejected"));
      }
      if (e.unhealthy) badges.push(h("span", { class: "badge badge-unhealthy", "data-badge": "unhealthy" }, "unhealthy"));
      if (e.healthy) badges.push(h("span", { class: "badge badge-healthy", "data-badge": "healthy" }, "healthy"));
      body.append(
        h(
          "tr",
          { "data-endpoint": e.endpoint, "data-pod": e.labels?.pod ?? "", "data-state": e.state, "data-ejected": e.ejected, "data-unhealthy": e.unhealthy },
          h("td", {}, h("span", { class: "swatch", style: "background:" + (i >= 0 ? COLORS[i % COLORS.length] : "transparent") }), labelOf(s.cluster, e.endpoint)),
          h("td", {}, e.state),
          h("td", {}, ...badges),
          h("td", {}, fixed(e.rps, 1)),
          h("td", {}, e.activeRequests),
          h("td", {}, e.connections),
          h("td", {}, e.pinnedConnections),
          h("td", {}, e.requests),
          h("td", {}, e.errors),
          h("td", {}, e.timesEjected),
        ),
      );
    }
    table.replaceChildren(h("thead", {}, h("tr", {}, ...COLUMNS.map((name) => h("th", {}, name)))), body);
  }

  /**
   * What the charts plot, read back from uPlot: per destination host and chart, per series
   * label, its last value, its largest and how many points it has.
   */
  function plotted() {
    const out = {};
    for (const s of destinations.values()) {
      const charts = {};
      for (const [key, u] of s.charts) {
        const series = {};
        u.series.forEach((ser, i) => {
          if (i === 0) return;
          const values = u.data[i].filter((v) => v !== null && v !== undefined);
          series[ser.label] = { last: values.length ? values[values.length - 1] : null, max: values.length ? Math.max(...values) : null, points: values.length };
        });
        charts[key] = series;
      }
      out[s.host] = charts;
    }
    return out;
  }

  async function poll() {
    try {
      const [clusters, history] = await Promise.all([getJson("/clusters"), getJson("/history?since=" + since)]);
      now = new Map(clusters.clusters.map((c) => [c.cluster, c]));
      merge(history);
      for (const s of destinations.values()) draw(s);
      state.polls++;
      status.dataset.status = "ok";
      status.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      state.errors++;
      state.lastError = String(err);
      status.dataset.status = "error";
      status.textContent = "admin server unreachable: " + String(err);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  window.addEventListener("resize", () => {
    for (const s of destinations.values()) for (const [key, u] of s.charts) {
      const div = s.view.querySelector('[data-chart="' + key + '"]');
      u.setSize({ width: chartWidth(div), height: 220 });
    }
  });

  void poll();
})();
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uPlot.min.css">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>sluice</h1>
  <span id="status" data-status="connecting">connecting...</span>
  <span><a href="/clusters">/clusters</a> · <a href="/history">/history</a> · <a href="/metrics">/metrics</a> · <a href="/config_dump">/config_dump</a> · <a href="/paths">all paths</a></span>
</header>
<main id="destinations"></main>
<script src="/assets/uPlot.iife.min.js"></script>
<script>${SCRIPT}</script>
</body>
</html>
`;
