/* gpulse dashboard. Everything that comes from the host (process names,
 * command lines, users, containers, GPU names) goes into the page as text
 * (textContent, never markup), so it can show any characters and run none. */
'use strict';

(function () {
  const NOW_EVERY_MS = 5000;
  const CHARTS_EVERY_MS = 30000;
  const PAGE = 100;

  const $ = (id) => document.getElementById(id);

  /* ------------------------------------------------------------ helpers -- */
  function el(tag, props, text) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === 'class') e.className = v;
        else e.setAttribute(k, v);
      }
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const msg = body && body.error ? body.error.message : r.status + ' ' + r.statusText;
      throw new Error(msg);
    }
    return body;
  }

  const GiB = 1024 * 1024 * 1024;
  function fmtBytes(b) {
    if (b === null || b === undefined) return '–';
    if (b >= GiB) return (b / GiB).toFixed(1) + ' GiB';
    return Math.round(b / 1048576) + ' MiB';
  }
  function fmtDuration(s) {
    if (s === null || s === undefined) return '–';
    s = Math.max(0, Math.round(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + ' d ' + h + ' h';
    if (h) return h + ' h ' + m + ' min';
    if (m) return m + ' min';
    return s + ' s';
  }
  function fmtTime(ms) {
    if (!ms) return '–';
    const d = new Date(ms);
    const now = new Date();
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (d.toDateString() === now.toDateString()) return time;
    return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + time;
  }
  function levelOf(v, warn, crit) {
    if (v === null || v === undefined) return '';
    return v >= crit ? 'crit' : v >= warn ? 'warn' : '';
  }

  /* -------------------------------------------------------------- theme -- */
  const media = window.matchMedia('(prefers-color-scheme: dark)');
  function themePref() {
    try { return localStorage.getItem('gpulse-theme') || 'auto'; } catch (e) { return 'auto'; }
  }
  function effectiveTheme() {
    const p = themePref();
    return p === 'auto' ? (media.matches ? 'dark' : 'light') : p;
  }
  function applyTheme() {
    const t = effectiveTheme();
    const changed = document.documentElement.dataset.theme !== t;
    document.documentElement.dataset.theme = t;
    $('theme').textContent = 'Theme: ' + themePref();
    $('activity').src = '/gpu-activity.svg?theme=' + t;
    if (changed) rebuildCharts();
  }
  $('theme').addEventListener('click', () => {
    const order = ['auto', 'light', 'dark'];
    const next = order[(order.indexOf(themePref()) + 1) % order.length];
    try { localStorage.setItem('gpulse-theme', next); } catch (e) { /* private mode */ }
    applyTheme();
  });
  media.addEventListener('change', applyTheme);

  /* ------------------------------------------------------------- status -- */
  function setStatus(ok, text) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('bad', !ok);
  }

  /* --------------------------------------------------------------- info -- */
  let info = null;
  async function loadInfo() {
    try {
      info = await getJSON('/api/v1/info');
      $('host').textContent = info.host || '–';
      $('driver').textContent = info.driver_version || '–';
      $('cuda').textContent = info.cuda_version || '–';
      document.title = 'gpulse · ' + (info.host || '');
      updateUptime();
      redrawCards(); // the temperature thresholds came with it
    } catch (e) {
      setTimeout(loadInfo, 2000);
    }
  }
  function updateUptime() {
    if (!info || !info.agent_start) return;
    $('uptime').textContent = fmtDuration((Date.now() - Date.parse(info.agent_start)) / 1000);
  }

  /* -------------------------------------------------------------- cards -- */
  const cards = new Map(); // uuid -> {root, parts}

  function metricRow(label) {
    const row = el('div', { class: 'metric' });
    const value = el('span', { class: 'value' });
    const bar = el('div', { class: 'bar' });
    const fill = el('i');
    bar.appendChild(fill);
    row.append(el('span', { class: 'label' }, label), bar, value);
    return { row, value, fill };
  }

  function makeCard(g) {
    const root = el('article', { class: 'card', 'data-uuid': g.uuid || '' });
    const h = el('h3');
    const name = el('span', { class: 'name' });
    const idx = el('span', { class: 'idx' });
    h.append(name, idx);
    const uuid = el('div', { class: 'uuid' });
    const lost = el('div', { class: 'lost-msg' });
    const util = metricRow('Utilization');
    const mem = metricRow('Memory');
    const temp = metricRow('Temperature');
    const power = metricRow('Power');
    const fan = metricRow('Fan');
    const kv = el('div', { class: 'kv' });
    const reasons = el('div', { class: 'reasons' });
    root.append(h, uuid, lost, util.row, mem.row, temp.row, power.row, fan.row, kv, reasons);
    return { root, name, idx, uuid, lost, util, mem, temp, power, fan, kv, reasons };
  }

  function setMetric(m, text, pct, level) {
    m.value.textContent = text;
    m.fill.style.width = (pct === null || pct === undefined ? 0 : Math.max(0, Math.min(100, pct))) + '%';
    m.row.className = 'metric' + (level ? ' ' + level : '');
    m.row.hidden = text === null;
  }

  function kvItem(label, value) {
    const span = el('span', null, label + ' ');
    span.appendChild(el('b', null, value));
    return span;
  }

  function updateCard(c, g) {
    c.name.textContent = g.name || 'GPU';
    c.idx.textContent = '#' + g.index;
    c.uuid.textContent = g.uuid || '';
    // A lost GPU and one the driver has not answered in time show no values.
    const isLost = g.state === 'lost' || g.state === 'not_responding';
    c.lost.hidden = !isLost;
    c.lost.textContent = !isLost ? ''
      : (g.state === 'lost' ? 'Lost: ' : 'Not responding: ') + (g.error || 'the GPU does not answer');
    let worst = '';
    const bump = (l) => { if (l === 'crit' || (l === 'warn' && worst !== 'crit')) worst = l; };

    const u = g.utilization_gpu_pct;
    setMetric(c.util, isLost || u === null ? null : u + ' %', u, '');
    const used = g.memory_used_bytes, total = g.memory_total_bytes;
    const memPct = used !== null && total ? (100 * used) / total : null;
    const ml = levelOf(memPct, 90, 98); bump(ml);
    setMetric(c.mem, isLost || used === null ? null : fmtBytes(used) + ' / ' + fmtBytes(total), memPct, ml);
    const t = g.temperature_c;
    // The thresholds `gpulse now` colours by, from the agent: none until known.
    const th = info && info.temperature_thresholds_c;
    const tl = th ? levelOf(t, th.warn, th.hot) : ''; bump(tl);
    setMetric(c.temp, isLost || t === null ? null : t + ' °C', t, tl);
    const p = g.power_mw, lim = g.power_limit_mw;
    const pPct = p !== null && lim ? (100 * p) / lim : null;
    const pl = levelOf(pPct, 90, 100); bump(pl);
    setMetric(c.power, isLost || p === null ? null : (p / 1000).toFixed(0) + ' W' + (lim ? ' / ' + (lim / 1000).toFixed(0) + ' W' : ''), pPct, pl);
    const f = g.fan_pct;
    const fl = levelOf(f, 90, 100); bump(fl);
    setMetric(c.fan, isLost || f === null ? null : f + ' %', f, fl);

    c.kv.replaceChildren();
    if (!isLost) {
      if (g.clock_sm_mhz !== null) c.kv.appendChild(kvItem('SM', g.clock_sm_mhz + ' MHz'));
      if (g.clock_memory_mhz !== null) c.kv.appendChild(kvItem('Mem', g.clock_memory_mhz + ' MHz'));
      if (g.pstate !== null) c.kv.appendChild(kvItem('P-state', 'P' + g.pstate));
      // null: the driver refused the list (processes_error says why), not 0.
      const procs = kvItem('Processes', g.processes === null ? 'unknown' : String(g.processes.length));
      if (g.processes === null) {
        procs.classList.add('unknown');
        procs.title = g.processes_error || '';
      }
      c.kv.appendChild(procs);
    }
    c.reasons.replaceChildren();
    for (const r of g.clock_event_reasons_active || []) {
      const tag = el('span', { class: r === 'gpu_idle' ? 'idle' : '' }, r.replace(/_/g, ' '));
      c.reasons.appendChild(tag);
    }
    c.root.className = 'card' + (isLost ? ' lost' : worst ? ' ' + worst : '');
  }

  let nowData = null;
  function redrawCards() {
    if (!nowData) return;
    for (const g of nowData.gpus) {
      const c = cards.get(g.uuid || String(g.index));
      if (c) updateCard(c, g);
    }
  }

  async function refreshNow() {
    try {
      nowData = await getJSON('/api/v1/now');
      const box = $('gpus');
      const seen = new Set();
      for (const g of nowData.gpus) {
        const key = g.uuid || String(g.index);
        seen.add(key);
        let c = cards.get(key);
        if (!c) {
          c = makeCard(g);
          cards.set(key, c);
          box.appendChild(c.root);
        }
        updateCard(c, g);
      }
      for (const [key, c] of cards) {
        if (!seen.has(key)) { c.root.remove(); cards.delete(key); }
      }
      updateUptime();
      setStatus(true, 'live · ' + new Date(nowData.time_ms).toLocaleTimeString());
      if (procMode === 'active') refreshProcs();
    } catch (e) {
      setStatus(false, 'offline: ' + e.message);
    }
  }

  /* ------------------------------------------------------------- charts -- */
  const CHARTS = [
    { id: 'chart-util', metric: 'utilization_gpu_pct', scale: (v) => v, fmt: (v) => v.toFixed(0) + ' %', range: [0, 100] },
    { id: 'chart-mem', metric: 'memory_used_bytes', scale: (v) => v / GiB, fmt: (v) => v.toFixed(1) + ' GiB' },
    { id: 'chart-temp', metric: 'temperature_c', scale: (v) => v, fmt: (v) => v.toFixed(0) + ' °C' },
    { id: 'chart-power', metric: 'power_mw', scale: (v) => v / 1000, fmt: (v) => v.toFixed(0) + ' W' },
  ];
  const PALETTE = ['#2f81f7', '#3fb950', '#d29922', '#f85149', '#a371f7', '#db61a2', '#39c5cf', '#8b949e'];
  let rangeS = 3600;
  let history = null;
  const plots = new Map(); // chart id -> {u, zoomed}

  function chartData(spec) {
    const ts = new Set();
    // uPlot's time axis is in seconds; the API's times are in ms.
    for (const s of history.series) for (const t of s.t_ms) ts.add(t / 1000);
    const xs = Array.from(ts).sort((a, b) => a - b);
    const index = new Map(xs.map((t, i) => [t, i]));
    const data = [xs];
    for (const s of history.series) {
      const col = new Array(xs.length).fill(null);
      const vals = s[spec.metric] || [];
      s.t_ms.forEach((t, i) => {
        const v = vals[i];
        col[index.get(t / 1000)] = v === null || v === undefined ? null : spec.scale(v);
      });
      data.push(col);
    }
    return data;
  }

  function chartOpts(spec, width) {
    const dark = effectiveTheme() === 'dark';
    const axis = { stroke: dark ? '#8b949e' : '#656d76', grid: { stroke: dark ? '#21262d' : '#eaeef2', width: 1 }, ticks: { stroke: dark ? '#30363d' : '#d0d7de' } };
    const series = [{}];
    history.series.forEach((s, i) => {
      series.push({
        label: 'GPU ' + s.gpu,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        spanGaps: false,
        value: (u, v) => (v === null || v === undefined ? '–' : spec.fmt(v)),
      });
    });
    const opts = {
      width: width, height: 220, series: series,
      // The requested range, even where data starts later; a zoom wins.
      scales: { x: { time: true, range: (u, min, max) => (plots.get(spec.id) && plots.get(spec.id).zoomed) || !history ? [min, max] : [history.from_ms / 1000, history.to_ms / 1000] } },
      axes: [Object.assign({}, axis), Object.assign({ size: 56, values: (u, vals) => vals.map((v) => (v === null ? '' : +v.toFixed(2))) }, axis)],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      hooks: {
        setSelect: [(u) => { if (u.select.width > 0) plots.get(spec.id).zoomed = true; }],
      },
    };
    if (spec.range) opts.scales.y = { range: spec.range };
    return opts;
  }

  function drawChart(spec) {
    const box = $(spec.id);
    const data = chartData(spec);
    const existing = plots.get(spec.id);
    if (existing && existing.u && existing.count === history.series.length) {
      existing.u.setData(data, !existing.zoomed);
      return;
    }
    if (existing && existing.u) existing.u.destroy();
    box.replaceChildren();
    if (!history.series.length) {
      box.appendChild(el('div', { class: 'empty' }, 'No data in this range yet'));
      plots.set(spec.id, { u: null, zoomed: false, count: 0 });
      return;
    }
    const entry = { u: null, zoomed: false, count: history.series.length };
    plots.set(spec.id, entry);
    entry.u = new uPlot(chartOpts(spec, Math.max(200, box.clientWidth)), data, box);
    box.addEventListener('dblclick', () => { entry.zoomed = false; });
  }

  function rebuildCharts() {
    for (const p of plots.values()) if (p.u) p.u.destroy();
    plots.clear();
    if (history) CHARTS.forEach(drawChart);
  }

  async function refreshCharts() {
    if (typeof uPlot === 'undefined') return;
    const to = Math.floor(Date.now() / 1000);
    const width = Math.max(300, Math.min(1000, Math.floor(document.body.clientWidth)));
    const url = '/api/v1/history?from=' + (to - rangeS) + '&to=' + to + '&points=' + width +
      '&metrics=' + CHARTS.map((c) => c.metric).join(',');
    try {
      history = await getJSON(url);
      const step = history.step_ms / 1000;
      $('resolution').textContent = 'Resolution: ' + (history.resolution === 'raw' ? 'every sample'
        : step % 86400 === 0 ? step / 86400 + ' d' : step % 3600 === 0 ? step / 3600 + ' h'
        : step % 60 === 0 ? step / 60 + ' min' : step + ' s') + '.';
      CHARTS.forEach(drawChart);
    } catch (e) {
      $('resolution').textContent = 'History unavailable: ' + e.message;
    }
  }

  for (const b of document.querySelectorAll('[data-range]')) {
    b.addEventListener('click', () => {
      rangeS = Number(b.dataset.range);
      for (const o of document.querySelectorAll('[data-range]')) o.setAttribute('aria-pressed', String(o === b));
      for (const p of plots.values()) p.zoomed = false;
      refreshCharts();
    });
  }
  document.querySelector('[data-range="3600"]').setAttribute('aria-pressed', 'true');

  new ResizeObserver(() => {
    for (const [id, p] of plots) {
      if (p.u) p.u.setSize({ width: Math.max(200, $(id).clientWidth), height: 220 });
    }
  }).observe($('gpus'));

  /* ---------------------------------------------------------- processes -- */
  let procMode = 'active';
  let procLimit = PAGE;
  let procRows = [];
  let sortKey = 'gpu_seconds';
  let sortDir = -1;
  let filterTimer = null;

  function cellText(key, r) {
    switch (key) {
      case 'memory_now_bytes': case 'memory_max_bytes': case 'memory_avg_bytes': return fmtBytes(r[key]);
      case 'sm_pct_now': return r.sm_pct_now === null ? (r.sm_pct_avg === null ? '–' : 'avg ' + r.sm_pct_avg.toFixed(0)) : String(r.sm_pct_now);
      case 'gpu_seconds': return fmtDuration(r.gpu_seconds);
      case 'first_seen_ms': return fmtTime(r.first_seen_ms);
      case 'lifetime_s': return fmtDuration(r.lifetime_s);
      case 'command': return r.cmdline || r.command || '–';
      case 'user': return r.user === null ? (r.uid === null ? '–' : String(r.uid)) : r.user;
      default: return r[key] === null || r[key] === undefined ? '–' : String(r[key]);
    }
  }

  function renderProcs() {
    const heads = Array.from(document.querySelectorAll('#procs th'));
    const type = (heads.find((h) => h.dataset.key === sortKey) || {}).dataset?.type;
    const rows = procRows.slice().sort((a, b) => {
      let x = a[sortKey], y = b[sortKey];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (type === 'num') return (x - y) * sortDir;
      return String(x).localeCompare(String(y)) * sortDir;
    });
    for (const h of heads) {
      if (h.dataset.key === sortKey) h.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
      else h.removeAttribute('aria-sort');
    }
    const body = document.querySelector('#procs tbody');
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = el('tr');
      for (const h of heads) {
        const td = el('td', { class: (h.dataset.type === 'num' ? 'num' : '') + (h.dataset.key === 'command' ? ' cmd' : '') }, cellText(h.dataset.key, r));
        if (h.dataset.key === 'command' && r.cmdline) td.title = r.cmdline;
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    // GPUs whose process list the driver refuses: their processes are
    // unknown, which an empty table must not hide.
    const unknown = procMode === 'active' && nowData
      ? nowData.gpus.filter((g) => g.state === 'ok' && g.processes === null) : [];
    const unknownText = unknown.map((g) => 'GPU #' + g.index + ': processes unknown (' + (g.processes_error || 'no reason given') + ')').join('; ');
    if (!rows.length) {
      const tr = el('tr', { class: 'empty' });
      tr.appendChild(el('td', { colspan: String(heads.length) }, procMode === 'active' ? (unknown.length ? unknownText : 'No process is using a GPU') : 'No process matches'));
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    $('procs-count').textContent = rows.length + (procMode === 'active' ? ' running' : ' shown') + (unknown.length ? ' · ' + unknownText : '');
    $('more').hidden = procMode === 'active' || procRows.length < procLimit;
  }

  async function refreshProcs() {
    const q = $('filter').value.trim();
    const params = new URLSearchParams();
    if (procMode === 'active') { params.set('active', 'true'); params.set('limit', '1000'); }
    else { params.set('limit', String(procLimit)); params.set('sort', 'last_seen'); }
    if (q) params.set('q', q);
    try {
      const data = await getJSON('/api/v1/processes?' + params.toString());
      procRows = data.processes;
      renderProcs();
    } catch (e) {
      $('procs-count').textContent = 'Processes unavailable: ' + e.message;
    }
  }

  for (const h of document.querySelectorAll('#procs th')) {
    h.addEventListener('click', () => {
      if (sortKey === h.dataset.key) sortDir = -sortDir;
      else { sortKey = h.dataset.key; sortDir = h.dataset.type === 'num' ? -1 : 1; }
      renderProcs();
    });
  }
  $('filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(refreshProcs, 250);
  });
  function setMode(mode) {
    procMode = mode;
    procLimit = PAGE;
    $('tab-active').setAttribute('aria-selected', String(mode === 'active'));
    $('tab-history').setAttribute('aria-selected', String(mode === 'history'));
    if (mode === 'history') { sortKey = 'first_seen_ms'; sortDir = -1; }
    refreshProcs();
  }
  $('tab-active').addEventListener('click', () => setMode('active'));
  $('tab-history').addEventListener('click', () => setMode('history'));
  $('more').addEventListener('click', () => { procLimit += PAGE; refreshProcs(); });

  /* -------------------------------------------------------------- users -- */
  async function refreshUsers() {
    try {
      const data = await getJSON('/api/v1/users');
      const body = document.querySelector('#users tbody');
      const frag = document.createDocumentFragment();
      for (const u of data.users) {
        const tr = el('tr');
        tr.append(el('td', null, u.user || '(unknown)'),
          el('td', { class: 'num' }, u.today_gpu_hours.toFixed(2)),
          el('td', { class: 'num' }, u.week_gpu_hours.toFixed(2)),
          el('td', { class: 'num' }, u.month_gpu_hours.toFixed(2)));
        frag.appendChild(tr);
      }
      if (!data.users.length) {
        const tr = el('tr', { class: 'empty' });
        tr.appendChild(el('td', { colspan: '4' }, 'No GPU use this month'));
        frag.appendChild(tr);
      }
      body.replaceChildren(frag);
    } catch (e) { /* the status line reports a dead agent */ }
  }

  /* --------------------------------------------------------------- start -- */
  applyTheme();
  loadInfo();
  refreshNow();
  refreshCharts();
  refreshProcs();
  refreshUsers();
  setInterval(refreshNow, NOW_EVERY_MS);
  setInterval(() => { refreshCharts(); refreshUsers(); if (procMode === 'history') refreshProcs(); }, CHARTS_EVERY_MS);
  /* The graph is cached for 30 min; two spellings of the same request make
   * the browser ask again after that. */
  let svgFlip = false;
  setInterval(() => {
    svgFlip = !svgFlip;
    $('activity').src = '/gpu-activity.svg?theme=' + effectiveTheme() + (svgFlip ? '&weeks=53' : '');
  }, 1800000);
})();
