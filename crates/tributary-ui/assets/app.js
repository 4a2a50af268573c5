// Tributary's monitoring pages: plain JavaScript, charts drawn on <canvas>, no external assets.
"use strict";
const Tributary = (() => {
  const token = new URLSearchParams(location.search).get("token");
  const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
  const get = async (url) => {
    const r = await fetch(withToken(url));
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  };
  const fmt = (v, digits = 0) => v === null || v === undefined ? "–" :
    Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });
  // Every value put into HTML goes through esc (the server's escape_html does the same).
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  async function index() {
    const tick = async () => {
      try {
        const { queries } = await get("/api/queries");
        document.querySelector("#queries tbody").innerHTML = queries.map((q) => `<tr>
          <td><a href="${esc(withToken("/query/" + encodeURIComponent(q.id)))}">${esc(q.name || "(unnamed)")}</a></td>
          <td class="state-${esc(q.state)}">${esc(q.state)}</td><td>${esc(q.status || "")}</td>
          <td>${fmt(q.latestEpoch)}</td><td>${fmt(q.inputRowsPerSecond, 1)}</td>
          <td>${fmt(q.processedRowsPerSecond, 1)}</td><td>${esc(q.watermark || "–")}</td>
          <td><code>${esc(q.id)}</code></td><td><code>${esc(q.runId)}</code></td>
          <td class="error">${esc(q.lastError || "")}</td></tr>`).join("");
      } catch (e) { console.error(e); }
    };
    await tick();
    setInterval(tick, 1000);
  }

  // One line chart (or stacked bars) over epochs.
  function chart(canvas, series, { stacked = false } = {}) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    const pad = { l: 56, r: 8, t: 8, b: 20 };
    const n = Math.max(...series.map((s) => s.values.length), 0);
    const totals = [...Array(n).keys()].map((i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
    const max = Math.max(1e-9, ...(stacked ? totals : series.flatMap((s) => s.values.filter((v) => v !== null))));
    g.strokeStyle = "#d0d7de"; g.fillStyle = "#57606a"; g.font = "11px sans-serif";
    for (let k = 0; k <= 4; k++) {
      const y = pad.t + (h - pad.t - pad.b) * (1 - k / 4);
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
      g.fillText(fmt(max * k / 4, max < 10 ? 2 : 0), 4, y + 4);
    }
    const x = (i) => pad.l + (n <= 1 ? 0 : (w - pad.l - pad.r) * i / (n - 1));
    const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - v / max);
    if (stacked) {
      const bw = Math.max(2, (w - pad.l - pad.r) / Math.max(n, 1) - 2);
      const base = new Array(n).fill(0);
      series.forEach((s) => {
        g.fillStyle = s.color;
        s.values.forEach((v, i) => {
          const y0 = y(base[i]), y1 = y(base[i] + (v || 0));
          g.fillRect(x(i) - bw / 2, y1, bw, y0 - y1);
          base[i] += v || 0;
        });
      });
    } else {
      series.forEach((s) => {
        g.strokeStyle = s.color; g.lineWidth = 2; g.beginPath();
        let started = false;
        s.values.forEach((v, i) => {
          if (v === null || v === undefined) return;
          if (!started) { g.moveTo(x(i), y(v)); started = true; } else g.lineTo(x(i), y(v));
        });
        g.stroke();
      });
    }
    let lx = pad.l;
    series.forEach((s) => {
      g.fillStyle = s.color; g.fillRect(lx, h - 12, 10, 8);
      g.fillStyle = "#1d2330"; g.fillText(s.name, lx + 14, h - 4);
      lx += 20 + g.measureText(s.name).width;
    });
    canvas.dataset.points = String(n);
  }

  const COLORS = ["#1f6feb", "#d4a72c", "#2da44e", "#cf222e", "#8250df", "#bf3989", "#0a7ea4", "#6e7781"];
  const CHARTS = [
    ["Input rate (rows/s)", (p) => [["input", p.inputRowsPerSecond], ["processed", p.processedRowsPerSecond]]],
    ["Input rows", (p) => [["rows", p.numInputRows]]],
    ["Batch duration (ms)", (p) => [["triggerExecution", p.durationMs.triggerExecution]]],
    ["Operation durations (ms)", null],
    ["Global watermark gap (s)", (p) => [["max event time - watermark", watermarkGap(p)]]],
    ["State rows", (p) => [["total", sum(p, "numRowsTotal")], ["updated", sum(p, "numRowsUpdated")]]],
    ["State memory (bytes)", (p) => [["memory", sum(p, "memoryUsedBytes")]]],
    ["Rows dropped by the watermark", (p) => [["dropped", sum(p, "numRowsDroppedByWatermark")]]],
    ["Bad records", (p) => [["bad", p.numBadRecords || 0]]],
    ["Row latency, real-time mode (ms)", (p) => [["p50", latency(p, "p50")], ["p99", latency(p, "p99")], ["max", latency(p, "max")]]],
  ];
  // A real-time epoch's row latency percentile; none for micro-batch epochs.
  const latency = (p, k) => (p.realTime && p.realTime.latencyMs && p.realTime.latencyMs[k] !== undefined) ? p.realTime.latencyMs[k] : null;
  // Seconds between the latest event time and the watermark; none before the first watermark
  // (which starts at 1970) or after the final one.
  const watermarkGap = (p) => {
    const t = p.eventTime || {};
    const max = Date.parse(t.max), wm = Date.parse(t.watermark);
    return Number.isFinite(max) && Number.isFinite(wm) && wm > 0 ? Math.max(0, (max - wm) / 1000) : null;
  };
  const sum = (p, k) => (p.stateOperators || []).length ? p.stateOperators.reduce((a, s) => a + (s[k] || 0), 0) : null;

  async function query() {
    const id = document.body.dataset.id;
    const grid = document.getElementById("charts");
    grid.innerHTML = CHARTS.map(([title], i) => `<div class="card"><h2>${esc(title)}</h2><canvas id="c${i}"></canvas></div>`).join("");
    const tick = async () => {
      try {
        const { query: q, plan, progress } = await get("/api/queries/" + encodeURIComponent(id));
        document.getElementById("title").textContent = q.name || q.id;
        document.title = "Tributary — " + (q.name || q.id);
        document.getElementById("summary").innerHTML = [
          ["state", `<span class="state-${esc(q.state)}">${esc(q.state)}</span>`], ["status", esc(q.status || "")],
          ["mode", esc(q.mode || "–")], ["row latency p99 (ms)", fmt(q.latencyP99Ms, 1)],
          ["latest epoch", fmt(q.latestEpoch)], ["input rows/s", fmt(q.inputRowsPerSecond, 1)],
          ["processed rows/s", fmt(q.processedRowsPerSecond, 1)], ["watermark", esc(q.watermark || "–")],
          ["rows in", fmt(q.totals.inputRows)], ["rows out", fmt(q.totals.outputRows)],
          ["bad records", fmt(q.totals.badRecords)], ["run id", `<code>${esc(q.runId)}</code>`],
        ].map(([k, v]) => `<div><span>${esc(k)}</span>${v}</div>`).join("");
        document.getElementById("error").textContent = q.lastError || "";
        document.getElementById("plan").textContent = plan;
        CHARTS.forEach(([, f], i) => {
          const canvas = document.getElementById("c" + i);
          if (f === null) {
            const ops = [...new Set(progress.flatMap((p) => Object.keys(p.durationMs)))].filter((k) => k !== "triggerExecution");
            chart(canvas, ops.map((k, j) => ({ name: k, color: COLORS[j % COLORS.length], values: progress.map((p) => p.durationMs[k] || 0) })), { stacked: true });
          } else {
            const names = progress.length ? f(progress[0]).map(([n]) => n) : [];
            chart(canvas, names.map((n, j) => ({ name: n, color: COLORS[j], values: progress.map((p) => f(p)[j][1]) })));
          }
        });
        document.body.dataset.epochs = String(progress.length);
      } catch (e) { console.error(e); }
    };
    await tick();
    setInterval(tick, 1000);
  }
  return { index, query };
})();
// The page says which it is (no inline script: the Content-Security-Policy forbids them).
Tributary[document.body.dataset.page]();
