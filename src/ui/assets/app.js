// sigtap web view: the live list (server-sent events), the filter, the summary bar and the
// detail panel. Plain JavaScript, no libraries; everything it shows is set as text (never HTML).
"use strict";
(function () {
  const ROW = 24;              // row height in pixels (app.css .row)
  const OVERSCAN = 12;         // rows drawn above and below the visible ones
  let keep = 10000;            // entries kept (the server's --ui-keep)
  let entries = [];            // log records, oldest first
  let shown = [];              // the entries the filter lets through
  let terms = [];              // the parsed filter
  let selected = null;         // the seq of the request in the detail panel (ids repeat when two proxies feed one view)
  let dirty = false;
  const $ = (id) => document.getElementById(id);
  const viewport = $("viewport"), spacer = $("spacer"), filter = $("filter");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ---- the filter: words must all match; key:value narrows to one field ----
  function parse(q) {
    return q.trim().toLowerCase().split(/\s+/).filter(Boolean).map((t) => {
      let neg = false;
      if (t.startsWith("-") && t.length > 1) { neg = true; t = t.slice(1); }
      const i = t.indexOf(":");
      const key = i > 0 ? t.slice(0, i) : "";
      const fields = ["status", "verdict", "code", "cause", "method", "host", "path", "action", "scheme", "carrier", "id"];
      if (key && fields.includes(key)) return { neg, key, value: t.slice(i + 1) };
      return { neg, key: "", value: t };
    });
  }
  function hay(e) {
    if (!e._hay) {
      const c = e.client || {};
      const f = (c.findings || []).map((x) => x.code + " " + (x.cause || "")).join(" ");
      e._hay = [e.method, e.host || "", e.target, c.verdict, e.action, e.status, c.scheme, c.carrier, f, e.resigned_as || "",
        (e.upstream && e.upstream.error_code) || ""].join(" ").toLowerCase();
    }
    return e._hay;
  }
  function fieldMatch(e, key, v) {
    const c = e.client || {};
    const fs = c.findings || [];
    switch (key) {
      case "status": return String(e.status).startsWith(v);
      case "verdict": return String(c.verdict || "").startsWith(v);
      case "code": return fs.some((x) => x.code.toLowerCase().includes(v));
      case "cause": return fs.some((x) => (x.cause || "").toLowerCase().includes(v));
      case "method": return String(e.method).toLowerCase() === v;
      case "host": return String(e.host || "").toLowerCase().includes(v);
      case "path": return String(e.target).toLowerCase().includes(v);
      case "action": return String(e.action).startsWith(v);
      case "scheme": return String(c.scheme || "").startsWith(v);
      case "carrier": return String(c.carrier || "").startsWith(v);
      case "id": return String(e.id) === v;
    }
    return false;
  }
  function passes(e) {
    for (const t of terms) {
      const m = t.key ? fieldMatch(e, t.key, t.value) : hay(e).includes(t.value);
      if (m === t.neg) return false;
    }
    return true;
  }
  function refilter() {
    terms = parse(filter.value);
    shown = terms.length ? entries.filter(passes) : entries.slice();
    dirty = true;
    schedule();
  }
  for (const ev of ["input", "change", "search"]) filter.addEventListener(ev, refilter);

  // ---- the summary bar: counts by verdict and finding, client clock offsets ----
  function summary() {
    const box = $("summary");
    box.replaceChildren();
    const verdicts = {}, codes = {}, offsets = [];
    for (const e of entries) {
      const c = e.client || {};
      verdicts[c.verdict] = (verdicts[c.verdict] || 0) + 1;
      for (const f of c.findings || []) {
        if (f.severity === "info") continue;
        const k = f.code + (f.cause ? " [" + f.cause + "]" : "");
        codes[k] = (codes[k] || 0) + 1;
      }
      if (typeof e.client_offset_s === "number") offsets.push(e.client_offset_s);
    }
    const group = (label) => { const g = el("span", "group"); g.append(el("span", "label", label)); box.append(g); return g; };
    const chip = (g, cls, text, q) => {
      const c = el("span", "chip " + cls, text);
      c.title = "filter: " + q;
      c.addEventListener("click", () => { filter.value = q; refilter(); });
      g.append(c);
    };
    const g1 = group(entries.length + " requests");
    for (const v of ["valid", "invalid", "unverified"]) if (verdicts[v]) chip(g1, v, v + " " + verdicts[v], "verdict:" + v);
    const g2 = group("findings");
    const top = Object.entries(codes).sort((a, b) => b[1] - a[1]).slice(0, 12);
    if (!top.length) g2.append(el("span", "muted", "none"));
    for (const [k, n] of top) chip(g2, "", k + " ×" + n, k.split(" ")[0]);
    const g3 = group("client clock offsets");
    if (offsets.length) {
      const lo = Math.min(...offsets), hi = Math.max(...offsets);
      g3.append(el("span", "chip", (lo === hi ? fmtOffset(lo) : fmtOffset(lo) + " … " + fmtOffset(hi)) + " (" + offsets.length + ")"));
    } else g3.append(el("span", "muted", "none seen"));
  }
  function fmtOffset(s) {
    const a = Math.abs(s), sign = s < 0 ? "−" : "+";
    if (a >= 3600) return sign + Math.floor(a / 3600) + "h" + Math.floor((a % 3600) / 60) + "m";
    if (a >= 60) return sign + Math.floor(a / 60) + "m" + (a % 60 ? (a % 60) + "s" : "");
    return sign + a + "s";
  }

  // ---- the list: only the rows in view exist in the page ----
  let frame = 0;
  function schedule() { if (!frame) frame = requestAnimationFrame(draw); }
  let stick = true;
  viewport.addEventListener("scroll", () => {
    stick = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW;
    schedule();
  });
  function row(e) {
    const c = e.client || {};
    const r = el("div", "row r-" + c.verdict);
    r.dataset.requestId = e.id;
    r.dataset.seq = e.seq;
    if (e.seq === selected) r.classList.add("selected");
    const url = (e.host ? (e.transport === "https" ? "https://" : "") + e.host : "") + e.target;
    const findings = (c.findings || []).filter((f) => f.severity !== "info" || e.action === "rejected")
      .map((f) => f.code + (f.cause ? "[" + f.cause + "]" : "")).join(" ");
    r.append(el("span", "c-id", e.id), el("span", "c-time", (e.time || "").slice(11, 19)), el("span", "c-method", e.method),
      el("span", "c-url", url), el("span", "c-scheme", c.scheme + " " + c.carrier), el("span", "c-verdict v-" + c.verdict, c.verdict),
      el("span", "c-action", e.action + (e.resigned_as ? " " + e.resigned_as : "")),
      el("span", "c-status st-" + String(e.status)[0], e.status), el("span", "c-dur", Number(e.duration_ms).toFixed(1)),
      el("span", "c-findings", findings));
    r.title = url;
    return r;
  }
  function draw() {
    frame = 0;
    if (dirty) { summary(); dirty = false; }
    spacer.style.height = shown.length * ROW + "px";
    if (stick) viewport.scrollTop = viewport.scrollHeight;
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(shown.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i++) {
      const r = row(shown[i]);
      r.style.top = i * ROW + "px";
      rows.push(r);
    }
    spacer.replaceChildren(...rows);
    $("empty").hidden = entries.length > 0;
    $("shown-count").textContent = terms.length ? shown.length + " of " + entries.length + " shown" : "";
  }
  window.addEventListener("resize", schedule);
  spacer.addEventListener("click", (ev) => {
    const r = ev.target.closest("[data-request-id]");
    if (r) open(Number(r.dataset.requestId), Number(r.dataset.seq));
  });

  function add(e) {
    entries.push(e);
    if (passes(e)) shown.push(e);
    if (entries.length > keep + Math.max(100, keep >> 3)) {
      entries = entries.slice(entries.length - keep);
      shown = terms.length ? entries.filter(passes) : entries.slice();
    }
    dirty = true;
    schedule();
  }

  // ---- the live stream ----
  function connect() {
    const src = new EventSource("/api/events");
    src.addEventListener("open", () => { $("live").className = "live on"; });
    src.addEventListener("error", () => { $("live").className = "live off"; });
    src.addEventListener("request", (m) => {
      try { add(JSON.parse(m.data)); } catch (err) { /* a malformed event is skipped */ }
    });
    src.addEventListener("skipped", (m) => {
      $("live").title = m.data + " requests were logged faster than this page read them and are not listed";
    });
  }

  // ---- export of what is shown ----
  function ranges() {
    const ids = shown.map((e) => e.id).sort((a, b) => a - b);
    const out = [];
    for (let i = 0; i < ids.length;) {
      let j = i;
      while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1) j++;
      out.push(i === j ? String(ids[i]) : ids[i] + "-" + ids[j]);
      i = j + 1;
    }
    return out.join(",") || "0";
  }
  for (const [id, path] of [["export-jsonl", "/api/export.jsonl"], ["export-har", "/api/export.har"]]) {
    $(id).addEventListener("click", (ev) => { ev.currentTarget.href = path + "?ids=" + ranges(); });
  }

  // ---- the detail panel ----
  async function open(id, seq) {
    selected = seq;
    schedule();
    const box = $("detail");
    let d;
    try {
      const r = await fetch("/api/requests/" + id + "?seq=" + seq, { headers: { Accept: "application/json" } });
      if (!r.ok) { box.replaceChildren(el("p", "muted", await r.text())); return; }
      d = await r.json();
    } catch (err) { box.replaceChildren(el("p", "muted", "cannot load request " + id)); return; }
    if (selected !== seq) return;
    const e = entries.find((x) => x.seq === seq) || {};
    render(box, e, d);
  }

  function kv(pairs) {
    const dl = el("dl", "kv");
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === "") continue;
      dl.append(el("dt", "", k), el("dd", "", typeof v === "object" ? JSON.stringify(v) : v));
    }
    return dl;
  }

  function render(box, e, d) {
    const c = e.client || {};
    const parts = [];
    const url = (e.host ? (e.transport === "https" ? "https://" : "") + e.host : "") + (e.target || "");
    parts.push(el("h2", "", "#" + d.id + " " + (e.method || "") + " " + url));
    const line = el("div", "");
    line.append(el("span", "v-" + c.verdict, c.verdict + " "), el("span", "muted", c.scheme + " " + c.carrier + (c.access_key ? " · key " + c.access_key : "") + " · "),
      el("span", "", e.action + (e.resigned_as ? " as " + e.resigned_as : "") + " → " + e.status));
    parts.push(line);
    const tools = el("div", "tools");
    for (const [label, text] of [["copy as curl", d.curl], ["copy as sigtap inspect", d.inspect]]) {
      if (!text) continue;
      const b = el("button", "", label);
      const note = el("span", "copied", "");
      b.addEventListener("click", () => copy(text, note));
      tools.append(b, note);
    }
    parts.push(tools);

    parts.push(el("h3", "", "findings"));
    if (!d.findings.length) parts.push(el("p", "muted", "none: the signature checks out"));
    for (const f of d.findings) {
      const fb = el("div", "finding sev-" + f.severity);
      const head = el("div", "");
      head.append(el("span", "code sev-" + f.severity, f.code));
      if (f.cause) head.append(el("span", "cause", f.cause));
      head.append(el("span", "muted", " " + f.severity));
      fb.append(head, el("div", "msg", f.message));
      const ev = Object.entries(f.evidence || {}).filter(([k]) => k !== "diff" && k !== "compare");
      if (ev.length) fb.append(kv(ev));
      if (f.evidence && f.evidence.compare) fb.append(kv(Object.entries(f.evidence.compare)));
      if (f.fix) fb.append(el("div", "fix", "fix: " + f.fix));
      parts.push(fb);
    }

    if (d.diff) {
      parts.push(el("h3", "", "what the client signed beside what arrived" + (d.diff.of ? " (" + d.diff.of + ")" : "")));
      const t = el("table", "diff");
      const h = el("tr", "");
      h.append(el("th", "mark", ""), el("th", "", "signed by the client"), el("th", "", "received by sigtap"));
      t.append(h);
      for (const r of d.diff.rows) {
        const tr = el("tr", r.changed ? "changed" : "");
        if (r.note !== undefined) { const td = el("td", "", r.note); td.colSpan = 3; tr.append(td); t.append(tr); continue; }
        tr.append(el("td", "mark", r.changed ? "≠" : ""), el("td", "signed", r.signed === null ? "(absent)" : r.signed),
          el("td", "received", r.received === null ? "(absent)" : r.received));
        t.append(tr);
      }
      parts.push(t);
    }

    if (d.time) { parts.push(el("h3", "", "time")); parts.push(axis(d.time)); }

    if (d.stages) {
      const s = d.stages;
      parts.push(el("h3", "", "stages (as sigtap computed them from the request as received)"));
      if (s.canonical_request !== undefined) { parts.push(el("div", "muted", "canonical request")); parts.push(el("pre", "", s.canonical_request)); }
      if (s.http_string !== undefined) { parts.push(el("div", "muted", "HttpString")); parts.push(el("pre", "", s.http_string)); }
      if (s.string_to_sign !== undefined) { parts.push(el("div", "muted", "string to sign")); parts.push(el("pre", "", s.string_to_sign)); }
      parts.push(kv([["expected signature", s.expected_signature], ["provided signature", s.provided_signature], ["reading", s.reading],
        ["aws-chunked", s.chunks && s.chunks.count + " chunks, " + s.chunks.decoded_length + " bytes" + (s.chunks.signed ? ", signed" : "")]]));
    }

    parts.push(el("h3", "", "what sigtap did"));
    parts.push(kv([["action", d.did.action + (d.did.resigned_as ? " (re-signed as " + d.did.resigned_as + ")" : "")], ["answered", d.did.status],
      ["note", d.did.note], ["upstream", d.did.upstream]]));
    const u = d.upstream;
    parts.push(el("h3", "", "the upstream's answer"));
    if (u.status === null && !u.error_message) parts.push(el("p", "muted", "no answer from the upstream (answered by sigtap)"));
    else parts.push(kv([["status", u.status], ["error code", u.error_code], ["message", u.error_message], ["request id", u.request_id],
      ["clock offset", u.clock_offset_s === null ? null : fmtOffset(u.clock_offset_s) + " from the proxy's clock"]]));
    if (d.headers && d.headers.length) {
      parts.push(el("h3", "", "request headers as received"));
      parts.push(kv(d.headers));
    }
    box.replaceChildren(...parts);
    box.scrollTop = 0;
  }

  // the time picture: every known time on one axis
  function axis(t) {
    const wrap = el("div", "");
    const pts = [];
    const add = (key, cls, label, pos) => { if (t[key]) pts.push({ v: t[key].unix, cls, label: label + " " + t[key].text.slice(11, 19), pos }); };
    add("client", "t-client", "client", "up");
    add("proxy", "t-proxy", "proxy", "down");
    add("upstream", "t-upstream", "upstream", "up");
    const ws = t.window_start && t.window_start.unix, we = t.window_end && t.window_end.unix;
    const vals = pts.map((p) => p.v).concat([ws, we].filter((x) => typeof x === "number"));
    if (!vals.length) return el("p", "muted", "no times known");
    let lo = Math.min(...vals), hi = Math.max(...vals);
    const pad = Math.max(30, (hi - lo) * 0.08);
    lo -= pad; hi += pad;
    const x = (v) => ((v - lo) / (hi - lo)) * 100 + "%";
    const a = el("div", "axis");
    a.append(el("div", "line"));
    if (typeof we === "number") {
      const w = el("div", "window" + (t.judged && t.judged.unix > we ? " closed" : ""));
      const start = typeof ws === "number" ? ws : lo;
      w.style.left = x(start);
      w.style.width = ((we - start) / (hi - lo)) * 100 + "%";
      w.title = "the signature's window";
      a.append(w);
    }
    for (const p of pts) {
      const tick = el("div", "tick " + p.cls);
      tick.style.left = x(p.v);
      const lab = el("div", "lab " + p.pos + " " + p.cls, p.label);
      lab.style.left = x(p.v);
      a.append(tick, lab);
    }
    wrap.append(a);
    const base = t.proxy ? t.proxy.unix : null;
    const rel = (k) => (t[k] && base !== null ? t[k].text + " (" + fmtOffset(t[k].unix - base) + ")" : t[k] && t[k].text);
    wrap.append(kv([["window", (t.window_start ? t.window_start.text : "(open)") + " … " + (t.window_end ? t.window_end.text : "")],
      ["client", t.client ? rel("client") + (t.client_basis ? " — " + t.client_basis : "") : null], ["proxy", t.proxy && t.proxy.text],
      ["judged at", t.judged && t.judged.unix !== base ? rel("judged") : null], ["upstream", rel("upstream")]]));
    return wrap;
  }

  async function copy(text, note) {
    try {
      await navigator.clipboard.writeText(text);
      note.textContent = "copied";
    } catch (err) {
      const ta = el("textarea", "", text);
      document.body.append(ta);
      ta.select();
      note.textContent = document.execCommand("copy") ? "copied" : "select and copy by hand";
      ta.remove();
    }
    setTimeout(() => { note.textContent = ""; }, 2000);
  }

  fetch("/api/meta").then((r) => r.json()).then((m) => {
    keep = m.keep || keep;
    if (m.recording) {
      const a = $("recording");
      a.hidden = false;
      a.textContent = "recording " + m.recording;
      a.download = m.recording;
    }
  }).catch(() => {}).finally(connect);
  refilter();
})();
