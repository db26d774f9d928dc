// The dashboard at admin `GET /` (SPEC §9): one self-contained page (inline CSS and JS, hand-drawn canvas charts,
// no external request) that polls `GET /dashboard/data` every 2 s. It holds no data, so it is served without the token.
import { createHash } from 'node:crypto'

const STYLE = `
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --panel: #ffffff; --bg: #f3f4f6; --accent: #2563eb;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.4rem 1.2rem; padding: 0.8rem 1.2rem; background: #111827; color: #f9fafb; }
header h1 { margin: 0; font-size: 1.15rem; }
header .meta { color: #d1d5db; }
header code { color: #f9fafb; }
#live { margin-left: auto; }
#live::before { content: ""; display: inline-block; width: 0.6rem; height: 0.6rem; margin-right: 0.4rem; border-radius: 50%; background: #9ca3af; }
#live[data-state="live"]::before { background: #22c55e; }
#live[data-state="error"]::before, #live[data-state="offline"]::before { background: #ef4444; }
#forget { background: none; border: 1px solid #4b5563; color: #d1d5db; border-radius: 4px; cursor: pointer; }
main { padding: 1rem 1.2rem 2rem; display: grid; gap: 1rem; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.8rem 1rem; overflow-x: auto; }
h2 { margin: 0 0 0.6rem; font-size: 1rem; }
h3 { margin: 0.8rem 0 0.4rem; font-size: 0.95rem; }
h3 .muted { font-weight: normal; }
.muted { color: var(--muted); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: 0.8rem; }
.figure { border-left: 3px solid var(--accent); padding-left: 0.6rem; }
.figure .label { color: var(--muted); font-size: 0.8rem; }
.figure .value { font-size: 1.35rem; font-variant-numeric: tabular-nums; }
.figure .detail { color: var(--muted); font-size: 0.8rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 0.3rem; }
canvas { display: block; width: 100%; height: 220px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 0.8rem; }
td.num { font-variant-numeric: tabular-nums; }
td code, li code { font-size: 0.85rem; }
ul.plain { list-style: none; margin: 0; padding: 0; }
.tag { display: inline-block; margin: 0 0.25rem 0.2rem 0; padding: 0 0.4rem; border-radius: 3px; background: #eef2ff; color: #3730a3; font-size: 0.8rem; }
.tag.scope-service { background: #ecfdf5; color: #065f46; }
.tag.scope-global { background: #f3f4f6; color: #374151; }
.badge { display: inline-block; min-width: 6rem; padding: 0.05rem 0.5rem; border-radius: 999px; color: #ffffff; font-size: 0.8rem; font-weight: 600; text-align: center; }
.health-HEALTHY { background: #16a34a; }
.health-UNHEALTHY { background: #dc2626; }
.health-HALF_OPEN { background: #d97706; }
.health-HEALTHCHECKS_OFF { background: #6b7280; }
tr.stale td { color: #b45309; }
dl.totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: 0.4rem 1rem; margin: 0; }
dl.totals dt { color: var(--muted); font-size: 0.8rem; }
dl.totals dd { margin: 0; font-variant-numeric: tabular-nums; }
#token-form { max-width: 26rem; margin: 3rem auto; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 1.2rem; display: grid; gap: 0.6rem; }
#token-form input { padding: 0.4rem; font: inherit; }
#token-form button { justify-self: start; padding: 0.35rem 1rem; font: inherit; }
#token-message { margin: 0; color: #b91c1c; }
#problem { margin: 0; padding: 0.6rem 1.2rem; background: #fef2f2; color: #991b1b; }
[hidden] { display: none !important; }
`

const BODY = `
<header>
  <h1>API Gateway</h1>
  <span class="meta">version <code id="version">–</code></span>
  <span class="meta">config <code id="config-hash">–</code></span>
  <span class="meta">up <span id="uptime">–</span></span>
  <span id="live" data-state="connecting">connecting…</span>
  <button id="forget" type="button" hidden>forget token</button>
</header>
<p id="problem" hidden></p>
<form id="token-form" hidden>
  <label for="token"><strong>Admin token</strong></label>
  <p id="token-message"></p>
  <input id="token" name="token" type="password" autocomplete="off" required>
  <button type="submit">Open dashboard</button>
</form>
<main id="board" hidden>
  <section class="figures" aria-label="Current figures">
    <div class="figure"><div class="label">Requests/s</div><div class="value" id="fig-rps">–</div><div class="detail" id="fig-requests"></div></div>
    <div class="figure"><div class="label">Errors/s</div><div class="value" id="fig-eps">–</div><div class="detail" id="fig-errors"></div></div>
    <div class="figure"><div class="label">Latency p99</div><div class="value" id="fig-p99">–</div><div class="detail" id="fig-p50"></div></div>
    <div class="figure"><div class="label">In flight</div><div class="value" id="fig-inflight">–</div><div class="detail" id="fig-upstream"></div></div>
    <div class="figure"><div class="label">Rate-limited</div><div class="value" id="fig-limited">–</div><div class="detail" id="fig-limited-detail"></div></div>
    <div class="figure"><div class="label">Cache hit ratio</div><div class="value" id="fig-cache">–</div><div class="detail" id="fig-cache-detail"></div></div>
  </section>
  <section class="charts" aria-label="Live charts">
    <figure><figcaption>Requests per second</figcaption><canvas id="chart-requests" role="img" aria-label="Requests per second over the last minutes"></canvas></figure>
    <figure><figcaption>Errors and rate-limited per second</figcaption><canvas id="chart-errors" role="img" aria-label="Errors and rate-limited requests per second"></canvas></figure>
    <figure><figcaption>Request latency (ms)</figcaption><canvas id="chart-latency" role="img" aria-label="Request latency percentiles in milliseconds"></canvas></figure>
  </section>
  <section>
    <h2>In view <span class="muted" id="view-span"></span></h2>
    <dl class="totals" id="view-totals">
      <div><dt>Requests</dt><dd id="view-requests">0</dd></div>
      <div><dt>Errors</dt><dd id="view-errors">0</dd></div>
      <div><dt>Rate-limited</dt><dd id="view-limited">0</dd></div>
      <div><dt>Cache hits</dt><dd id="view-hits">0</dd></div>
      <div><dt>Cache misses</dt><dd id="view-misses">0</dd></div>
      <div><dt>Timed requests</dt><dd id="view-timed">0</dd></div>
    </dl>
  </section>
  <section>
    <h2>Routes</h2>
    <table id="routes"><thead><tr><th>Name</th><th>Service</th><th>Protocols</th><th>Methods</th><th>Hosts</th><th>Paths</th><th>Plugins</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Services</h2>
    <table id="services"><thead><tr><th>Name</th><th>Protocol</th><th>Host</th><th>Port</th><th>Path</th><th>Upstream</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Upstreams</h2>
    <div id="upstreams"></div>
  </section>
  <section>
    <h2>Workers</h2>
    <table id="workers"><thead><tr><th>#</th><th>Ready</th><th>Config hash</th><th>Requests</th><th>In flight</th></tr></thead><tbody></tbody></table>
    <h3>Rate limiting and cache</h3>
    <dl class="totals" id="limits">
      <div><dt>Rate-limited (total)</dt><dd id="rl-rejected">0</dd></div>
      <div><dt>Redis fallbacks</dt><dd id="rl-fallbacks">0</dd></div>
      <div><dt>Rate table slots used</dt><dd id="rl-table">0</dd></div>
      <div><dt>Cache hit / miss (total)</dt><dd id="cache-hit-miss">0</dd></div>
      <div><dt>Cache bypass / stale</dt><dd id="cache-bypass-stale">0</dd></div>
      <div><dt>Cache entries</dt><dd id="cache-entries">0</dd></div>
    </dl>
  </section>
</main>
`

// Plain ES2020 for the browser. Every value from the data call reaches the DOM through textContent
// (route names, paths and hosts come from config), never through innerHTML.
const SCRIPT = `
'use strict';
(function () {
  var TOKEN_KEY = 'gateway-admin-token';
  var POLL_MS = 2000;
  var VIEW_SAMPLES = 150;
  var TIME_TICKS_MS = [5000, 10000, 15000, 30000, 60000, 120000, 300000];
  var CHARTS = [
    { id: 'chart-requests', unit: 'req/s', floor: 1, series: [{ key: 'requests_per_s', label: 'requests/s', color: '#2563eb' }] },
    { id: 'chart-errors', unit: 'per s', floor: 1, series: [
      { key: 'errors_per_s', label: 'errors/s', color: '#dc2626' },
      { key: 'rate_limited_per_s', label: 'rate-limited/s', color: '#d97706' } ] },
    { id: 'chart-latency', unit: 'ms', floor: 1, series: [
      { key: 'p50_ms', label: 'p50', color: '#059669' },
      { key: 'p95_ms', label: 'p95', color: '#7c3aed' },
      { key: 'p99_ms', label: 'p99', color: '#db2777' } ] }
  ];
  var $ = function (id) { return document.getElementById(id); };
  var pollTimer = null;
  var polling = false;
  var needToken = false;
  var lastData = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function setText(id, value) { $(id).textContent = value; }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function list(values, empty) {
    if (!values || values.length === 0) return el('span', empty, 'muted');
    var ul = el('ul', null, 'plain');
    values.forEach(function (v) { var li = el('li'); li.appendChild(el('code', v)); ul.appendChild(li); });
    return ul;
  }

  function fillTable(id, rows, cells) {
    var body = $(id).tBodies[0];
    body.replaceChildren();
    rows.forEach(function (row) {
      var tr = el('tr');
      cells(row, tr).forEach(function (cell) {
        var td = el('td');
        if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === null || cell === undefined ? '' : String(cell);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function num(n, digits) {
    if (n === null || n === undefined) return '–';
    return n.toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 1 : digits });
  }

  function duration(s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h > 0 ? h + 'h ' : '') + (h > 0 || m > 0 ? m + 'm ' : '') + sec + 's';
  }

  function ratio(r) { return r === null || r === undefined ? '–' : num(r * 100, 1) + ' %'; }

  function setLive(state, text) { var live = $('live'); live.dataset.state = state; live.textContent = text; }

  function problem(text) { var p = $('problem'); p.hidden = text === null; p.textContent = text || ''; }

  function askToken(message) {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
    polling = false;
    needToken = true;
    $('board').hidden = true;
    $('forget').hidden = true;
    $('token-form').hidden = false;
    setText('token-message', message);
    setLive('error', 'token needed');
    $('token').focus();
  }

  // A hidden tab stops polling, so the gateway's sampler stops too; showing it again polls at once.
  // Every poll ends in schedule() or askToken(); the polling flag keeps a second chain from starting meanwhile.
  function schedule() {
    polling = false;
    if (!document.hidden) pollTimer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    pollTimer = null;
    polling = true;
    var headers = {};
    var t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    fetch('/dashboard/data', { headers: headers, cache: 'no-store' }).then(function (res) {
      if (res.status === 401) return askToken(t ? 'The token was refused; enter the GATEWAY_ADMIN_TOKEN of this gateway.' : 'This gateway requires its admin token (GATEWAY_ADMIN_TOKEN).');
      if (!res.ok) { setLive('error', 'HTTP ' + res.status); problem('GET /dashboard/data answered ' + res.status); return schedule(); }
      return res.json().then(function (data) {
        problem(null);
        render(data);
        setLive('live', 'live · ' + new Date(data.generated_at).toLocaleTimeString());
        schedule();
      });
    }).catch(function (err) {
      setLive('offline', 'offline');
      problem('The admin API did not answer: ' + err.message);
      schedule();
    });
  }

  function render(data) {
    lastData = data;
    var status = data.status;
    $('token-form').hidden = true;
    $('board').hidden = false;
    $('forget').hidden = !token();
    setText('version', status.version);
    setText('config-hash', status.config_hash);
    setText('uptime', duration(status.uptime_s));
    var view = viewTotals(data.samples);
    renderFigures(data, view);
    renderView(view);
    CHARTS.forEach(function (chart) { drawChart($(chart.id), chart, data); });
    renderRoutes(data.routes);
    fillTable('services', data.services, function (s) { return [s.name, s.protocol, s.host, s.port, s.path, s.upstream === null ? '–' : s.upstream]; });
    renderUpstreams(data.upstreams);
    renderWorkers(status);
  }

  /** Sums of the windows in view (the charts' time range). */
  function viewTotals(samples) {
    var view = samples.slice(-VIEW_SAMPLES), sums = { windows: view.length, seconds: 0, requests: 0, errors: 0, rate_limited: 0, cache_hits: 0, cache_misses: 0, latency_count: 0 };
    view.forEach(function (s) {
      sums.seconds += s.interval_s;
      for (var k in sums) if (k !== 'windows' && k !== 'seconds') sums[k] += s[k];
    });
    return sums;
  }

  function renderFigures(data, view) {
    var status = data.status, samples = data.samples, last = samples.length > 0 ? samples[samples.length - 1] : null;
    setText('fig-rps', last ? num(last.requests_per_s) : '–');
    setText('fig-requests', num(status.requests, 0) + ' since start');
    setText('fig-eps', last ? num(last.errors_per_s) : '–');
    setText('fig-errors', num(status.errors, 0) + ' since start');
    var timed = null;
    for (var i = samples.length - 1; i >= 0 && timed === null; i--) if (samples[i].p99_ms !== null) timed = samples[i];
    setText('fig-p99', timed ? num(timed.p99_ms, 2) + ' ms' : '–');
    setText('fig-p50', timed ? 'p50 ' + num(timed.p50_ms, 2) + ' · p95 ' + num(timed.p95_ms, 2) + ' ms' + (timed === last ? '' : ' (window to ' + clock(timed.t) + ')') : 'no request timed yet');
    setText('fig-inflight', num(status.connections.in_flight, 0));
    setText('fig-upstream', num(status.connections.upstream_open, 0) + ' upstream open · ' + num(status.connections.upstream_idle, 0) + ' idle');
    setText('fig-limited', last ? num(last.rate_limited_per_s) + '/s' : '–');
    setText('fig-limited-detail', num(status.rate_limiting.rejected, 0) + ' since start');
    setText('fig-cache', ratio(view.cache_hits + view.cache_misses === 0 ? null : view.cache_hits / (view.cache_hits + view.cache_misses)));
    setText('fig-cache-detail', num(status.cache.hit, 0) + ' hits · ' + num(status.cache.miss, 0) + ' misses since start');
  }

  function renderView(view) {
    setText('view-span', view.windows === 0 ? '(collecting the first window…)' : '(' + duration(Math.round(view.seconds)) + ' in ' + view.windows + ' windows)');
    setText('view-requests', view.requests);
    setText('view-errors', view.errors);
    setText('view-limited', view.rate_limited);
    setText('view-hits', view.cache_hits);
    setText('view-misses', view.cache_misses);
    setText('view-timed', view.latency_count);
  }

  function renderRoutes(routes) {
    fillTable('routes', routes, function (r, tr) {
      tr.dataset.route = r.name;
      var plugins = el('div');
      if (r.plugins.length === 0) plugins.appendChild(el('span', 'none', 'muted'));
      r.plugins.forEach(function (p) {
        var tag = el('span', p.name, 'tag scope-' + p.scope);
        tag.title = 'configured on the ' + p.scope + (p.scope === 'global' ? '' : ' (applies here by precedence)');
        plugins.appendChild(tag);
      });
      return [el('strong', r.name), r.service === null ? '–' : r.service, r.protocols.join(', '),
        r.methods.length === 0 ? 'any' : r.methods.join(', '), list(r.hosts, 'any'), list(r.paths, 'any'), plugins];
    });
  }

  function renderUpstreams(upstreams) {
    var box = $('upstreams');
    box.replaceChildren();
    if (upstreams.length === 0) box.appendChild(el('p', 'No upstreams: every service points at a single host.', 'muted'));
    upstreams.forEach(function (u) {
      var h = el('h3', u.name);
      h.appendChild(document.createTextNode(' '));
      h.appendChild(el('span', u.algorithm + ' · ' + u.targets.length + ' targets', 'muted'));
      var table = el('table');
      table.dataset.upstream = u.name;
      var head = el('tr');
      ['Target', 'Weight', 'Health', 'Failures (tcp / http / timeouts)', 'Ejections'].forEach(function (t) { head.appendChild(el('th', t)); });
      table.appendChild(el('thead')).appendChild(head);
      var body = table.appendChild(el('tbody'));
      u.targets.forEach(function (t) {
        var tr = el('tr');
        tr.dataset.target = t.target;
        tr.dataset.health = t.health;
        tr.appendChild(el('td')).appendChild(el('code', t.target));
        tr.appendChild(el('td', t.weight, 'num'));
        tr.appendChild(el('td')).appendChild(el('span', t.health, 'badge health-' + t.health));
        tr.appendChild(el('td', t.data.tcp_failures + ' / ' + t.data.http_failures + ' / ' + t.data.timeouts, 'num'));
        tr.appendChild(el('td', t.data.ejections, 'num'));
        body.appendChild(tr);
      });
      box.appendChild(h);
      box.appendChild(table);
    });
  }

  function renderWorkers(status) {
    fillTable('workers', status.workers.threads, function (w, tr) {
      var current = w.config_hash === status.config_hash;
      if (!current) { tr.className = 'stale'; tr.title = 'still running an older config'; }
      return [w.index, w.ready ? 'yes' : 'no', w.config_hash + (current ? '' : ' (older)'), num(w.requests, 0), num(w.in_flight, 0)];
    });
    var rl = status.rate_limiting, c = status.cache;
    setText('rl-rejected', num(rl.rejected, 0));
    setText('rl-fallbacks', num(rl.redis_fallbacks, 0));
    setText('rl-table', num(rl.table_used, 0) + ' of ' + num(rl.table_slots, 0));
    setText('cache-hit-miss', num(c.hit, 0) + ' / ' + num(c.miss, 0));
    setText('cache-bypass-stale', num(c.bypass, 0) + ' / ' + num(c.stale, 0));
    setText('cache-entries', num(c.entries, 0) + ' (' + num(c.bytes_used / 1024, 1) + ' KiB)');
  }

  /** The smallest 1, 2 or 5 × 10^k step that splits [0, max] into at most 5 intervals. */
  function niceStep(max) {
    var raw = max / 5, pow = Math.pow(10, Math.floor(Math.log10(raw))), steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * pow >= raw) return steps[i] * pow;
    return 10 * pow;
  }

  function clock(t) {
    var d = new Date(t);
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0') + ':' + String(d.getSeconds()).padStart(2, '0');
  }

  function drawChart(canvas, chart, data) {
    var samples = data.samples.slice(-VIEW_SAMPLES);
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    var g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    var left = 52, right = 12, top = 26, bottom = 34;
    var pw = w - left - right, ph = h - top - bottom;
    // The time axis ends now and starts at the oldest window in view (at least 15 windows wide, at most VIEW_SAMPLES).
    var interval = data.sample_interval_ms, end = data.generated_at;
    var first = samples.length > 0 ? samples[0].t - interval : end;
    var start = Math.max(end - interval * VIEW_SAMPLES, Math.min(first, end - interval * 15)), span = end - start;

    var peak = 0, latest = {};
    chart.series.forEach(function (s) {
      samples.forEach(function (p) { if (p[s.key] !== null && p[s.key] > peak) peak = p[s.key]; });
      latest[s.key] = samples.length > 0 ? samples[samples.length - 1][s.key] : null;
    });
    var step = niceStep(Math.max(peak, chart.floor));
    var ceiling = Math.ceil(Math.max(peak, chart.floor) / step) * step;
    var x = function (t) { return left + ((t - start) / span) * pw; };
    var y = function (v) { return top + ph - (v / ceiling) * ph; };

    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    g.textBaseline = 'middle';
    g.textAlign = 'right';
    for (var v = 0; v <= ceiling + step / 2; v += step) {
      g.strokeStyle = v === 0 ? '#9ca3af' : '#e5e7eb';
      g.beginPath(); g.moveTo(left, Math.round(y(v)) + 0.5); g.lineTo(left + pw, Math.round(y(v)) + 0.5); g.stroke();
      g.fillStyle = '#6b7280';
      g.fillText(num(v, 2), left - 6, y(v));
    }
    g.strokeStyle = '#9ca3af';
    g.beginPath(); g.moveTo(left + 0.5, top); g.lineTo(left + 0.5, top + ph); g.stroke();
    g.textAlign = 'center';
    g.textBaseline = 'top';
    var maxTicks = Math.max(2, Math.floor(pw / 75));
    var tick = TIME_TICKS_MS.find(function (ms) { return span / ms <= maxTicks; }) || TIME_TICKS_MS[TIME_TICKS_MS.length - 1];
    for (var t = Math.ceil(start / tick) * tick; t <= end; t += tick) {
      g.strokeStyle = '#9ca3af';
      g.beginPath(); g.moveTo(Math.round(x(t)) + 0.5, top + ph); g.lineTo(Math.round(x(t)) + 0.5, top + ph + 4); g.stroke();
      // A label that would run past the canvas edge is left out (its tick stays).
      if (x(t) + g.measureText(clock(t)).width / 2 <= w) g.fillText(clock(t), x(t), top + ph + 6);
    }
    g.save();
    g.translate(12, top + ph / 2);
    g.rotate(-Math.PI / 2);
    g.textBaseline = 'middle';
    g.fillText(chart.unit, 0, 0);
    g.restore();
    g.textAlign = 'right';
    g.fillText('time', left + pw, top + ph + 20);

    var lx = left + 4;
    g.textAlign = 'left';
    g.textBaseline = 'middle';
    chart.series.forEach(function (s) {
      var label = s.label + ' ' + (latest[s.key] === null || latest[s.key] === undefined ? '–' : num(latest[s.key], 2));
      g.fillStyle = s.color;
      g.fillRect(lx, 9, 10, 10);
      g.fillStyle = '#374151';
      g.fillText(label, lx + 14, 14);
      lx += 22 + g.measureText(label).width;
    });

    if (samples.length === 0) {
      g.fillStyle = '#9ca3af';
      g.textAlign = 'center';
      g.fillText('collecting samples every ' + interval / 1000 + ' s…', left + pw / 2, top + ph / 2);
    }
    var gap = interval * 2.5;
    chart.series.forEach(function (s) {
      g.strokeStyle = s.color;
      g.fillStyle = s.color;
      g.lineWidth = 2;
      g.lineJoin = 'round';
      g.beginPath();
      var drawing = false, prevT = 0;
      samples.forEach(function (p, i) {
        var value = p[s.key];
        if (value === null || (drawing && p.t - prevT > gap)) drawing = false;
        if (value === null) return;
        var px = x(p.t), py = y(value);
        if (drawing) g.lineTo(px, py); else g.moveTo(px, py);
        var next = samples[i + 1];
        var alone = !drawing && (next === undefined || next[s.key] === null || next.t - p.t > gap);
        if (alone) g.fillRect(px - 3, py - 3, 6, 6);
        drawing = true;
        prevT = p.t;
      });
      g.stroke();
    });

    canvas.dataset.points = String(samples.length);
    canvas.dataset.peak = String(peak);
    canvas.dataset.latest = JSON.stringify(latest);
  }

  $('token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var value = $('token').value.trim();
    if (value === '') return;
    sessionStorage.setItem(TOKEN_KEY, value);
    needToken = false;
    $('token').value = '';
    $('token-form').hidden = true;
    setLive('connecting', 'connecting…');
    poll();
  });
  $('forget').addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken('Token forgotten. Enter it again to continue.');
  });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && pollTimer === null && !polling && !needToken) poll();
  });
  window.addEventListener('resize', function () {
    if (lastData !== null && !$('board').hidden) CHARTS.forEach(function (chart) { drawChart($(chart.id), chart, lastData); });
  });
  poll();
})();
`

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`
}

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>API Gateway · dashboard</title>
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`

/**
 * Only the inline style and script above may run, and the page may only talk to the admin API it came from:
 * no external request can leave it, and injected markup could not execute.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')
