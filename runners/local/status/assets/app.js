// kappa status page: polls /api/v1/snapshot and renders it. No framework; the graph layout is dagre's
// (assets/vendor/dagre.min.js), the SVG is drawn here.
"use strict";

(function () {
  const POLL_MS = 500;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  // ---------- formatting ----------
  function fmtInt(n) {
    if (n === null || n === undefined) return "–";
    return Math.round(n).toLocaleString("en-US");
  }
  function fmtSI(n) {
    if (n === null || n === undefined) return "–";
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(2) + "G";
    if (a >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
    if (a >= 100 || Number.isInteger(n)) return Math.round(n).toLocaleString("en-US");
    return n.toFixed(1);
  }
  function fmtRate(n) { return n === null || n === undefined ? "–" : fmtSI(n) + "/s"; }
  function fmtBytes(b) {
    if (b === null || b === undefined) return "–";
    if (b >= 1 << 30) return (b / (1 << 30)).toFixed(2) + " GiB";
    if (b >= 1 << 20) return (b / (1 << 20)).toFixed(1) + " MiB";
    if (b >= 1 << 10) return (b / (1 << 10)).toFixed(1) + " KiB";
    return b + " B";
  }
  function fmtDur(ms) {
    if (ms === null || ms === undefined) return "–";
    const neg = ms < 0;
    ms = Math.abs(ms);
    let s;
    if (ms < 1000) s = Math.round(ms) + " ms";
    else if (ms < 60e3) s = (ms / 1000).toFixed(1) + " s";
    else if (ms < 3600e3) s = Math.floor(ms / 60e3) + "m " + String(Math.floor((ms % 60e3) / 1000)).padStart(2, "0") + "s";
    else if (ms < 86400e3) s = Math.floor(ms / 3600e3) + "h " + String(Math.floor((ms % 3600e3) / 60e3)).padStart(2, "0") + "m";
    else s = Math.floor(ms / 86400e3) + "d " + Math.floor((ms % 86400e3) / 3600e3) + "h";
    return (neg ? "−" : "") + s;
  }
  // Watermarks: the JSON time without the T and Z ("2024-01-01 12:00:05.000"); -inf and +inf as they are.
  function fmtWM(w) { return !w ? "–" : w.time.replace("T", " ").replace("Z", ""); }
  function fmtClock(iso) {
    if (!iso) return "–";
    return iso.replace(/^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z?.*$/, "$1 $2");
  }

  function setText(el, text, value) {
    if (typeof el === "string") el = $(el);
    if (!el) return;
    if (el.textContent !== text) el.textContent = text;
    if (value !== undefined) el.dataset.value = value === null ? "" : String(value);
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) {
      if (k === "class") e.className = attrs[k];
      else if (k.startsWith("data-")) e.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function td(text, cls, value) {
    const c = el("td", cls ? { class: cls } : null, text);
    if (value !== undefined) c.dataset.value = value === null ? "" : String(value);
    return c;
  }
  function busyColor(r) {
    r = Math.max(0, Math.min(1, r || 0));
    return "hsl(" + Math.round(210 - 210 * r) + ", " + (65 - 5 * r) + "%, " + (42 + 4 * r) + "%)";
  }

  // ---------- header and cards ----------
  function renderJob(s) {
    const j = s.job;
    setText("job-name", j.name);
    const st = $("job-state");
    setText(st, j.state);
    st.dataset.state = j.state;
    setText("job-mode", j.mode);
    setText("job-workers", String(j.workers));
    setText("job-uptime", fmtDur(j.uptime_ms));
    setText("job-epoch", String(j.epoch));
    setText("seq", String(s.seq));
    $("seq").dataset.seq = String(s.seq);
    setText("job-records", fmtSI(j.records), j.records);
    setText("job-rate", fmtRate(j.records_per_s), j.records_per_s);
    setText("job-byterate", fmtBytes(j.bytes_per_s) + "/s");
    setText("job-wm", fmtWM(j.watermark));
    $("job-wm").dataset.time = j.watermark.time;
    setText("job-wm-lag", j.watermark.lag_ms === null ? (j.watermark.time === "+inf" ? "input ended" : "no data yet") : fmtDur(j.watermark.lag_ms) + " behind now");
    setText("job-late", fmtInt(j.late_dropped), j.late_dropped);
    $("job-late").classList.toggle("alert", j.late_dropped > 0);
    setText("job-panes", "early " + fmtSI(j.panes.early) + " · on time " + fmtSI(j.panes.on_time) + " · late " + fmtSI(j.panes.late));
    setText("job-dead", fmtInt(j.dead_lettered), j.dead_lettered);
    $("job-dead").classList.toggle("alert", j.dead_lettered > 0);
    setText("job-future", fmtInt(j.future));
    setText("job-state-entries", fmtSI(j.state_entries), j.state_entries);
    setText("job-spilled", fmtInt(j.spilled));
    const c = s.checkpoints;
    if (c.enabled) {
      setText("job-chk", fmtInt(c.completed) + (c.failed ? " · " + c.failed + " failed" : ""));
      $("job-chk").classList.toggle("alert", c.failed > 0);
      const last = c.history.find((h) => !h.error);
      setText("job-chk-sub", last ? "last " + fmtDur(last.age_ms) + " ago, " + fmtDur(last.duration_ms) + ", " + fmtBytes(last.bytes) : "none yet · every " + fmtDur(c.interval_ms));
    } else {
      setText("job-chk", "off");
      setText("job-chk-sub", "Config.Checkpoints not set");
    }
    const p = j.progress;
    $("progress-card").classList.toggle("hidden", !p);
    if (p) {
      $("progress-fill").style.width = Math.min(100, p.percent).toFixed(1) + "%";
      setText("progress-pct", p.percent.toFixed(1) + "%", p.percent);
      setText("progress-eta", p.eta_ms === null ? "?" : fmtDur(p.eta_ms));
      setText("progress-detail", p.splits_done + " of " + p.splits_total + " splits" + (p.bytes_total ? ", " + fmtBytes(p.bytes_read) + " of " + fmtBytes(p.bytes_total) : ""));
    }
    setText("rate-window", fmtDur(j.rate_window_ms));
    const banner = $("banner");
    if (j.error) {
      banner.className = "banner error";
      banner.textContent = "The job failed: " + j.error;
    } else if (j.state === "finished" || j.state === "stopped" || j.state === "cancelled") {
      banner.className = "banner";
      banner.textContent = "The job has " + j.state + ". This page stops updating when its process stops serving it.";
    } else {
      banner.className = "banner hidden";
    }
  }

  // ---------- graph ----------
  let graphKey = "";
  let graphRefs = null; // per stage id: {title, rows:[{text}], busy, wm, held, body, header}
  let measureCtx = null;
  function textWidth(t, bold) {
    if (!measureCtx) measureCtx = document.createElement("canvas").getContext("2d");
    measureCtx.font = (bold ? "bold " : "") + "12px " + getComputedStyle(document.body).fontFamily;
    return measureCtx.measureText(t).width;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // kindSaysMore: show a transform's kind next to its name unless the name already says it ("KeyBy" KeyBy).
  function kindSaysMore(name, kind) {
    const last = name.split("/").pop().replace(/#\d+$/, "");
    return kind && kind !== last;
  }
  function clip(t, max) { return t.length > max ? "…" + t.slice(t.length - max + 1) : t; }
  const ROW = 18, HEAD = 26, PAD = 10, RATEW = 118;

  function stageTitle(st) { return "S" + st.id + " · " + (st.kind === "source" ? "Source" : "Keyed") + ": " + clip(st.name, 48); }

  function buildGraph(s) {
    const host = $("graph");
    host.textContent = "";
    if (typeof dagre === "undefined") {
      host.appendChild(el("div", { class: "muted" }, "graph layout library not loaded"));
      return;
    }
    const byName = {};
    s.transforms.forEach((t) => { byName[t.name] = t; });
    const splitLen = Math.max(8, ...s.sources.flatMap((src) => src.splits.map((sp) => sp.id.length)));
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 70, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(() => ({}));
    s.stages.forEach((st) => {
      let w = textWidth(stageTitle(st), true) + 2 * PAD;
      st.transforms.forEach((name) => {
        const t = byName[name] || { kind: "" };
        const kind = kindSaysMore(name, t.kind) ? " " + clip(t.kind, 26) : "";
        w = Math.max(w, textWidth(clip(name, 40), false) + textWidth(kind, false) + RATEW + 3 * PAD);
      });
      w = Math.max(w, textWidth("watermark 2024-01-01 12:00:00.000 (−59m 59s)", false) + 2 * PAD);
      w = Math.max(w, textWidth("⚑ held back by " + "m".repeat(Math.min(splitLen, 36)) + " by 59m 59s", true) + 2 * PAD);
      const h = HEAD + st.transforms.length * ROW + 8 + 3 * ROW + 6;
      g.setNode(String(st.id), { width: Math.ceil(Math.max(240, w)), height: h });
    });
    s.edges.forEach((e, i) => {
      g.setEdge(String(e.from), String(e.to), { width: 86, height: 16, labelpos: "c" }, "e" + i);
    });
    dagre.layout(g);
    const gw = g.graph().width, gh = g.graph().height;
    const root = svg("svg", { width: gw, height: gh, viewBox: "0 0 " + gw + " " + gh, "data-testid": "graph-svg" });
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    marker.appendChild(svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
    defs.appendChild(marker);
    root.appendChild(defs);
    graphRefs = { stages: {}, edges: [] };
    s.edges.forEach((e, i) => {
      const ed = g.edge(String(e.from), String(e.to), "e" + i);
      const pts = ed.points;
      let d = "M " + pts[0].x + " " + pts[0].y;
      for (let k = 1; k < pts.length; k++) d += " L " + pts[k].x + " " + pts[k].y;
      root.appendChild(svg("path", { d: d, class: "edge " + e.ship, "marker-end": "url(#arrow)" }));
      const lg = svg("g", { class: "elabel-g", "data-edge": String(i) });
      lg.appendChild(svg("rect", { class: "elabelbg", x: ed.x - 43, y: ed.y - 15, width: 86, height: 30, rx: 3 }));
      lg.appendChild(svg("text", { class: "elabel", x: ed.x, y: ed.y - 3, "text-anchor": "middle" }, e.ship.toUpperCase()));
      const rate = svg("text", { class: "elabel", x: ed.x, y: ed.y + 11, "text-anchor": "middle" }, "");
      lg.appendChild(rate);
      root.appendChild(lg);
      graphRefs.edges.push({ rate: rate });
    });
    s.stages.forEach((st) => {
      const n = g.node(String(st.id));
      const x = n.x - n.width / 2, y = n.y - n.height / 2;
      const grp = svg("g", { class: "stage", "data-stage": String(st.id), transform: "translate(" + x + "," + y + ")" });
      grp.appendChild(svg("rect", { class: "body", width: n.width, height: n.height, rx: 5 }));
      const header = svg("path", { d: "M0 5 a5 5 0 0 1 5 -5 h" + (n.width - 10) + " a5 5 0 0 1 5 5 v" + (HEAD - 5) + " h-" + n.width + " z" });
      grp.appendChild(header);
      grp.appendChild(svg("text", { class: "title", x: PAD, y: 17 }, stageTitle(st)));
      const rows = [];
      st.transforms.forEach((name, k) => {
        const t = byName[name] || { kind: "" };
        const yy = HEAD + (k + 1) * ROW - 5;
        const label = svg("text", { x: PAD, y: yy, "data-transform": name });
        label.appendChild(svg("tspan", {}, clip(name, 40)));
        if (kindSaysMore(name, t.kind)) label.appendChild(svg("tspan", { class: "kind", dx: "6" }, clip(t.kind, 26)));
        grp.appendChild(label);
        const rate = svg("text", { class: "num rate", x: n.width - PAD, y: yy, "text-anchor": "end", "data-transform": name }, "");
        grp.appendChild(rate);
        rows.push({ name: name, rate: rate });
      });
      const sepY = HEAD + st.transforms.length * ROW + 4;
      grp.appendChild(svg("line", { class: "sep", x1: 0, x2: n.width, y1: sepY, y2: sepY }));
      const busy = svg("text", { class: "foot busy", x: PAD, y: sepY + ROW - 3 }, "");
      const wm = svg("text", { class: "foot wm", x: PAD, y: sepY + 2 * ROW - 3 }, "");
      const held = svg("text", { class: "held", x: PAD, y: sepY + 3 * ROW - 3 }, "");
      grp.appendChild(busy);
      grp.appendChild(wm);
      grp.appendChild(held);
      root.appendChild(grp);
      graphRefs.stages[st.id] = { grp: grp, header: header, rows: rows, busy: busy, wm: wm, held: held };
    });
    host.appendChild(root);
  }

  function updateGraph(s) {
    const key = JSON.stringify([s.stages.map((st) => [st.id, st.kind, st.name, st.transforms]), s.edges.map((e) => [e.from, e.to, e.ship]),
      s.sources.map((src) => src.splits.length)]);
    if (key !== graphKey || !graphRefs) {
      graphKey = key;
      buildGraph(s);
      if (!graphRefs) return;
    }
    const byName = {};
    s.transforms.forEach((t) => { byName[t.name] = t; });
    s.stages.forEach((st) => {
      const r = graphRefs.stages[st.id];
      if (!r) return;
      r.header.setAttribute("fill", busyColor(st.busy_ratio));
      r.rows.forEach((row) => {
        const t = byName[row.name];
        if (!t) return;
        const txt = (t.in_per_s === null ? "–" : fmtSI(t.in_per_s)) + " → " + (t.out_per_s === null ? "–" : fmtSI(t.out_per_s)) + " /s";
        setText(row.rate, txt, t.out_per_s);
      });
      setText(r.busy, "parallelism " + st.parallelism + " · busy " + Math.round(100 * st.busy_ratio) + "%", st.busy_ratio);
      setText(r.wm, "watermark " + fmtWM(st.watermark) + (st.watermark.lag_ms !== null ? " (" + fmtDur(-st.watermark.lag_ms) + ")" : ""));
      r.wm.dataset.time = st.watermark.time;
      const h = st.held_back;
      r.grp.classList.toggle("held", !!h);
      if (h) {
        setText(r.held, "⚑ held back by " + clip(h.split, 36) + (h.by_ms !== null ? " by " + fmtDur(h.by_ms) : ""));
        r.held.dataset.split = h.split;
        r.held.setAttribute("class", "held");
      } else {
        setText(r.held, "watermark not held back");
        r.held.dataset.split = "";
        r.held.setAttribute("class", "foot");
      }
    });
    s.edges.forEach((e, i) => {
      const r = graphRefs.edges[i];
      if (r) setText(r.rate, e.per_s === null ? "" : fmtRate(e.per_s), e.per_s);
    });
  }

  // ---------- tables ----------
  function fill(tbody, rows) {
    const frag = document.createDocumentFragment();
    rows.forEach((r) => frag.appendChild(r));
    tbody.replaceChildren(frag);
  }

  function renderWatermarks(s) {
    const rows = s.stages.map((st) => {
      const tr = el("tr", { "data-stage": String(st.id) });
      tr.appendChild(td("S" + st.id + " " + st.name));
      const wm = td(fmtWM(st.watermark), "mono wm");
      wm.dataset.time = st.watermark.time;
      tr.appendChild(wm);
      tr.appendChild(td(st.watermark.lag_ms === null ? "–" : fmtDur(st.watermark.lag_ms), "num"));
      const h = st.held_back;
      if (h) {
        tr.classList.add("holds");
        const c = td("", "held-split");
        c.appendChild(el("span", { class: "held-name mono" }, h.split));
        c.appendChild(el("span", { class: "muted small" }, " " + h.source + (h.next_split !== null ? " (next: " + h.next_split + ")" : "")));
        c.dataset.split = h.split;
        tr.appendChild(c);
        tr.appendChild(td(h.by_ms === null ? "only active split" : fmtDur(h.by_ms), "held-by", h.by_ms));
        tr.appendChild(td(h.median_gap_ms === null ? "–" : fmtDur(h.median_gap_ms), "held-median", h.median_gap_ms));
        tr.appendChild(td(fmtClock(h.since) + " (" + fmtDur(h.for_ms) + ")", "held-since", h.for_ms));
      } else {
        const c = td(st.watermark.time === "+inf" ? "— (input ended)" : "—", "held-split muted");
        c.dataset.split = "";
        tr.appendChild(c);
        tr.appendChild(td("", "held-by"));
        tr.appendChild(td("", "held-median"));
        tr.appendChild(td("", "held-since"));
      }
      return tr;
    });
    fill($("watermarks").tBodies[0], rows);
  }

  function renderSources(s) {
    const host = $("sources");
    const frag = document.createDocumentFragment();
    s.sources.forEach((src) => {
      const box = el("div", { class: "source", "data-source": src.transform });
      const head = el("div", { class: "sourcehead" });
      head.appendChild(el("span", { class: "name mono" }, src.name));
      head.appendChild(el("span", { class: "muted" }, src.transform + " · stage S" + src.stage + " · " + (src.bounded ? "bounded" : "unbounded")));
      head.appendChild(el("span", { class: "src-records", "data-value": String(src.records) }, fmtInt(src.records) + " records"));
      head.appendChild(el("span", { class: "src-rate", "data-value": String(src.records_per_s) }, fmtRate(src.records_per_s)));
      const w = el("span", { class: "src-wm mono", "data-time": src.watermark.time }, "watermark " + fmtWM(src.watermark));
      head.appendChild(w);
      if (src.dead_lettered) head.appendChild(el("span", { class: "held-name" }, src.dead_lettered + " dead letters"));
      if (src.remaining) {
        const r = src.remaining;
        head.appendChild(el("span", { class: "remaining" }, r.percent.toFixed(1) + "% · left: " + r.splits + " splits" + (r.files !== r.splits ? ", " + r.files + " files" : "") +
          (r.bytes ? ", " + fmtBytes(r.bytes) : "") + " · ETA " + (r.eta_ms === null ? "?" : fmtDur(r.eta_ms))));
      }
      box.appendChild(head);
      const t = el("table", { class: "splits" });
      const hr = el("tr");
      ["split", "worker", "state", "position", "records", "rate", "lag (records)", "behind head", "watermark (UTC)", "max event time", "last record"].forEach((h, i) => {
        hr.appendChild(el("th", i >= 4 && i <= 7 ? { class: "num" } : null, h));
      });
      t.appendChild(el("thead")).appendChild(hr);
      const tb = el("tbody");
      src.splits.forEach((sp) => {
        const tr = el("tr", { class: "split" + (sp.holds_back ? " holds" : ""), "data-split": sp.id, "data-source": src.transform });
        tr.appendChild(td(sp.id, "mono split-id"));
        tr.appendChild(td(String(sp.worker), "num"));
        const stc = td("");
        stc.appendChild(el("span", { class: "tag " + sp.state }, sp.state));
        tr.appendChild(stc);
        tr.appendChild(td(sp.position, "mono"));
        tr.appendChild(td(fmtInt(sp.records), "num split-records", sp.records));
        tr.appendChild(td(fmtRate(sp.records_per_s), "num split-rate", sp.records_per_s));
        const lagR = sp.lag && sp.lag.records !== null ? sp.lag.records : null;
        const lagT = sp.lag && sp.lag.behind_ms !== null ? sp.lag.behind_ms : null;
        tr.appendChild(td(lagR === null ? (sp.bytes_left !== null ? fmtBytes(sp.bytes_left) + " left" : "–") : fmtInt(lagR), "num lag-records", lagR));
        tr.appendChild(td(lagT === null ? "–" : fmtDur(lagT), "num lag-behind", lagT));
        const wmc = td(fmtWM(sp.watermark), "mono split-wm");
        wmc.dataset.time = sp.watermark.time;
        tr.appendChild(wmc);
        tr.appendChild(td(fmtWM(sp.max_event_time), "mono"));
        tr.appendChild(td(sp.last_record_at ? fmtClock(sp.last_record_at) : "–", "mono"));
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      box.appendChild(t);
      frag.appendChild(box);
    });
    host.replaceChildren(frag);
  }

  function renderTransforms(s) {
    fill($("transforms").tBodies[0], s.transforms.map((t) => {
      const tr = el("tr", { "data-transform": t.name });
      tr.appendChild(td(t.name, "mono"));
      tr.appendChild(td(t.kind, "muted"));
      tr.appendChild(td("S" + t.stage));
      tr.appendChild(td(t.in === null ? "–" : fmtInt(t.in), "num t-in", t.in));
      tr.appendChild(td(t.out === null ? "–" : fmtInt(t.out), "num t-out", t.out));
      tr.appendChild(td(t.in_per_s === null ? "–" : fmtRate(t.in_per_s), "num t-in-rate", t.in_per_s));
      tr.appendChild(td(t.out_per_s === null ? "–" : fmtRate(t.out_per_s), "num t-out-rate", t.out_per_s));
      tr.appendChild(td(t.late_dropped ? fmtInt(t.late_dropped) : "", "num t-late", t.late_dropped));
      tr.appendChild(td(t.dead_lettered ? fmtInt(t.dead_lettered) : "", "num t-dead", t.dead_lettered));
      return tr;
    }));
  }

  function renderState(s) {
    fill($("state").tBodies[0], s.state.map((k) => {
      const tr = el("tr", { "data-transform": k.transform });
      tr.appendChild(td(k.transform, "mono"));
      tr.appendChild(td(k.kind, "muted"));
      tr.appendChild(td(fmtInt(k.entries), "num st-entries", k.entries));
      tr.appendChild(td(k.entries_per_worker.map(fmtSI).join(" · "), "mono small"));
      tr.appendChild(td(k.bytes === null ? "–" : fmtBytes(k.bytes), "num"));
      tr.appendChild(td(fmtInt(k.spilled), "num", k.spilled));
      return tr;
    }));
  }

  function renderCheckpoints(s) {
    const c = s.checkpoints;
    setText("chk-summary", c.enabled ? c.completed + " completed, " + c.failed + " failed, every " + fmtDur(c.interval_ms) +
      (c.restored_from ? " · restored from " + c.restored_from + " in " + fmtDur(c.restore_ms) : "") : "off");
    fill($("checkpoints").tBodies[0], c.history.map((h) => {
      const tr = el("tr", { "data-epoch": String(h.epoch) });
      tr.appendChild(td(String(h.epoch), "num"));
      tr.appendChild(td(h.kind));
      tr.appendChild(td(fmtClock(h.started_at), "mono"));
      tr.appendChild(td(fmtDur(h.duration_ms), "num"));
      tr.appendChild(td(fmtBytes(h.bytes), "num"));
      tr.appendChild(td(fmtDur(h.age_ms), "num"));
      tr.appendChild(td(h.error ? "failed: " + h.error : "ok", h.error ? "held-name" : ""));
      return tr;
    }));
  }

  // ---------- loop ----------
  let last = null;
  function render(s) {
    renderJob(s);
    updateGraph(s);
    renderWatermarks(s);
    renderSources(s);
    renderTransforms(s);
    renderState(s);
    renderCheckpoints(s);
    document.body.dataset.seq = String(s.seq);
  }
  function tickAge() {
    if (!last) return;
    const age = Date.now() - Date.parse(last.taken_at);
    setText("updated", age < 1500 ? "live" : "updated " + fmtDur(age) + " ago");
  }
  async function poll() {
    try {
      const r = await fetch("/api/v1/snapshot", { cache: "no-store" });
      if (r.ok) {
        const s = await r.json();
        if (!last || s.seq !== last.seq) {
          last = s;
          render(s);
        }
      }
    } catch (e) {
      const st = $("job-state");
      setText(st, last ? "unreachable" : "connecting");
      st.dataset.state = "unreachable";
    }
    tickAge();
    setTimeout(poll, POLL_MS);
  }
  window.addEventListener("DOMContentLoaded", poll);
})();
