// The supervisor view (#/supervisor): queues and waiting times, operators online and their
// load, today's figures per channel and per group, and an SVG chart of conversations per
// hour by channel. Data from GET /stats?since=<local midnight>, refreshed live.
import { api, query } from "./api.js";
import { h, svg, tx, fill, throttle, label } from "./dom.js";
import { t } from "./i18n.js";
import { onEvent } from "./ws.js";
import { duration, number, hourLabel } from "./format.js";
import { errorText } from "./forms.js";

const PALETTE = ["#2f5bea", "#18a878", "#f08c2e", "#c4407a", "#7b5ce6", "#1aa3c4", "#b59b1c", "#6b7785"];

function midnight() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

function weightedAvg(rows, key) {
  let sum = 0;
  let n = 0;
  for (const r of rows) {
    if (r[key] === null || r[key] === undefined) continue;
    const w = Math.max(1, r.conversations || 0);
    sum += r[key] * w;
    n += w;
  }
  return n ? sum / n : null;
}

function kpi(key, value, cls) {
  return h("div", { class: ["kpi", cls] }, h("div", { class: "kpi-value", text: value }), h("div", { class: "kpi-label", i18n: key }));
}

function table(heads, rows, emptyKey) {
  return h("table", { class: "table compact" },
    h("thead", null, h("tr", null, heads.map((k) => h("th", { i18n: k })))),
    h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: String(heads.length), class: "list-empty", i18n: emptyKey }))));
}

/** Stacked bars: conversations per local hour since midnight, one colour per channel. */
function hourlyChart(stats) {
  const start = midnight().getTime();
  const channels = stats.channels || [];
  const ids = [...new Set([...channels.map((c) => c.channel_id), ...(stats.hourly || []).map((x) => x.channel_id)])];
  const color = new Map(ids.map((id, i) => [id, PALETTE[i % PALETTE.length]]));
  const nameOf = (id) => channels.find((c) => c.channel_id === id)?.name || id.slice(0, 8);
  const bins = Array.from({ length: 24 }, () => new Map());
  for (const x of stats.hourly || []) {
    const idx = Math.floor((new Date(x.hour).getTime() - start) / 3600000);
    if (idx < 0 || idx > 23) continue;
    bins[idx].set(x.channel_id, (bins[idx].get(x.channel_id) || 0) + (x.conversations || 0));
  }
  const totals = bins.map((b) => [...b.values()].reduce((a, v) => a + v, 0));
  const max = Math.max(1, ...totals);
  const step = max <= 5 ? 1 : Math.ceil(max / 5);
  const top = Math.ceil(max / step) * step;
  const W = 1100;
  const H = 230;
  const left = 36;
  const right = 10;
  const topPad = 12;
  const bottom = 28;
  const plotW = W - left - right;
  const plotH = H - topPad - bottom;
  const bw = plotW / 24;
  const y = (v) => topPad + plotH - (v / top) * plotH;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": t("supervisor.chart") });
  for (let v = 0; v <= top; v += step) {
    chart.append(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }));
    chart.append(svg("text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end", text: String(v) }));
  }
  const nowIdx = Math.floor((Date.now() - start) / 3600000);
  bins.forEach((b, i) => {
    let acc = 0;
    for (const id of ids) {
      const v = b.get(id) || 0;
      if (!v) continue;
      const rect = svg("rect", { x: left + i * bw + 3, width: Math.max(1, bw - 6), y: y(acc + v), height: Math.max(0, y(acc) - y(acc + v)), fill: color.get(id), rx: 2, class: "bar" });
      rect.append(svg("title", { text: `${String(i).padStart(2, "0")}:00 · ${nameOf(id)}: ${v}` }));
      chart.append(rect);
      acc += v;
    }
    if (i % 2 === 0) {
      chart.append(svg("text", { x: left + i * bw + bw / 2, y: H - 10, class: i === nowIdx ? "axis now" : "axis", "text-anchor": "middle", text: hourLabel(new Date(start + i * 3600000)) }));
    }
  });
  chart.append(svg("line", { x1: left, x2: W - right, y1: y(0), y2: y(0), class: "baseline" }));
  const legend = h("ul", { class: "legend" }, ids.map((id) => {
    const sw = h("span", { class: "swatch" });
    sw.style.background = color.get(id);
    return h("li", null, sw, h("span", { text: nameOf(id) }));
  }));
  return h("div", { class: "chart-box" }, chart, ids.length ? legend : h("p", { class: "muted", i18n: "supervisor.noData" }));
}

export function mount(root) {
  const updated = h("span", { class: "muted small-text" });
  const body = h("div", { class: "supervisor" }, h("p", { class: "list-empty", i18n: "common.loading" }));
  fill(root, h("div", { class: "page wide" },
    h("div", { class: "page-head" }, h("p", { class: "page-intro", i18n: "supervisor.intro" }), updated),
    body));
  let stats = null;
  let busy = false;
  let failed = null;
  let updatedAt = null;
  const paintUpdated = () => {
    if (updatedAt && !failed) label(updated, "supervisor.updated", { time: hourLabel(updatedAt) });
  };

  function paint() {
    if (!stats) {
      if (failed) fill(body, h("div", { class: "card" }, h("p", { class: "form-error", text: failed })));
      return;
    }
    const queues = stats.queues || [];
    const ops = stats.operators || [];
    const chans = stats.channels || [];
    const groups = stats.groups || [];
    const total = chans.reduce((a, c) => a + (c.conversations || 0), 0);
    const waiting = queues.reduce((a, q) => a + (q.waiting || 0), 0);
    const online = ops.filter((o) => o.status === "online").length;
    const autoClosed = chans.reduce((a, c) => a + (c.auto_closed || 0), 0);
    const kpis = h("div", { class: "kpis" },
      kpi("supervisor.today", number(total)),
      kpi("supervisor.waiting", number(waiting), waiting ? "warn" : null),
      kpi("supervisor.online", `${online} / ${ops.length}`),
      kpi("supervisor.firstResponse", duration(weightedAvg(chans, "first_response_secs"))),
      kpi("supervisor.resolution", duration(weightedAvg(chans, "resolution_secs"))),
      kpi("supervisor.autoClosed", number(autoClosed)));
    const queueRows = queues.map((q) => h("tr", null,
      h("td", { text: q.name }),
      h("td", null, h("span", { class: q.waiting ? "chip warn" : "chip muted", text: String(q.waiting) })),
      h("td", { text: q.longest_wait_secs === null || q.longest_wait_secs === undefined ? "—" : duration(q.longest_wait_secs) })));
    const opRows = ops
      .slice()
      .sort((a, b) => ["online", "away", "offline"].indexOf(a.status) - ["online", "away", "offline"].indexOf(b.status))
      .map((o) => {
        const bar = h("span", { class: "load-fill" });
        const cap = o.capacity || 0;
        const ratio = cap ? Math.min(1, (o.open || 0) / cap) : 0;
        bar.style.width = `${Math.round(ratio * 100)}%`;
        if (ratio >= 1) bar.classList.add("full");
        return h("tr", null,
          h("td", { text: o.name }),
          h("td", null, h("span", { class: "status-cell" }, h("span", { class: `dot ${o.status}` }), tx(`status.${o.status}`))),
          h("td", null, h("span", { class: "load" }, h("span", { class: "load-bar" }, bar), h("span", { class: "load-text", text: `${o.open || 0} / ${cap || "—"}` }))));
      });
    const figureRow = (name, extra, r) => h("tr", null,
      h("td", null, extra, h("span", { text: name })),
      h("td", { class: "num", text: number(r.conversations || 0) }),
      h("td", { class: "num", text: duration(r.first_response_secs) }),
      h("td", { class: "num", text: duration(r.resolution_secs) }),
      h("td", { class: "num", text: number(r.auto_closed || 0) }));
    const figureHeads = ["supervisor.name", "supervisor.conversations", "supervisor.firstResponse", "supervisor.resolution", "supervisor.autoClosed"];
    fill(body,
      kpis,
      h("section", { class: "card" }, h("h3", { class: "card-title", i18n: "supervisor.chart" }), hourlyChart(stats)),
      h("div", { class: "grid-2 gap" },
        h("section", { class: "card" }, h("h3", { class: "card-title", i18n: "supervisor.queues" }), table(["supervisor.group", "supervisor.waitingCol", "supervisor.longest"], queueRows, "supervisor.noQueues")),
        h("section", { class: "card" }, h("h3", { class: "card-title", i18n: "supervisor.operators" }), table(["supervisor.operator", "supervisor.status", "supervisor.load"], opRows, "supervisor.noOperators"))),
      h("div", { class: "grid-2 gap" },
        h("section", { class: "card" }, h("h3", { class: "card-title", i18n: "supervisor.byChannel" }),
          table(figureHeads, chans.map((c) => figureRow(c.name, h("span", { class: `kind k-${c.kind}`, text: c.kind }), c)), "supervisor.noData")),
        h("section", { class: "card" }, h("h3", { class: "card-title", i18n: "supervisor.byGroup" }),
          table(figureHeads, groups.map((g) => figureRow(g.name, null, g)), "supervisor.noData"))));
  }

  async function load() {
    if (busy) return;
    busy = true;
    try {
      stats = await api.get(`/stats${query({ since: midnight().toISOString() })}`);
      failed = null;
      updatedAt = new Date();
      updated.classList.remove("stale");
      paintUpdated();
    } catch (err) {
      failed = errorText(err);
      // The figures on screen are from before: say they are stale, and why.
      if (stats) {
        updated.classList.add("stale");
        label(updated, "supervisor.stale", { error: failed });
      }
    } finally {
      busy = false;
    }
    paint();
  }

  const soon = throttle(load, 3000);
  const off = onEvent((frame) => {
    if (frame.type === "conversation" || frame.type === "reconnected" || frame.type === "resync") soon();
  });
  const timer = setInterval(load, 15000);
  load();
  return {
    relabel() {
      paintUpdated();
      paint();
    },
    unmount() {
      off();
      soon.cancel();
      clearInterval(timer);
    },
  };
}
