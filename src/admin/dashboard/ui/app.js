// The dashboard's page: polls GET /ui/api/snapshot once a second (while the tab is visible) and
// draws it. Every table is bounded by the server; the page keeps only the last snapshot.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const SNAPSHOT_URL = '/ui/api/snapshot';
const POLL_MS = 1000;
/** Where the admin key is kept for this tab only: gone when the tab closes. */
const ADMIN_KEY_ITEM = 'ai-gateway-admin-key';
const CHART_HEIGHT = 220;

const fmt = {
  int: (n) => (n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US')),
  ms: (n) => (n === null || n === undefined ? '-' : n < 10 ? `${n.toFixed(2)} ms` : n < 1000 ? `${n.toFixed(0)} ms` : `${(n / 1000).toFixed(2)} s`),
  usd: (n) => (n === null || n === undefined ? '-' : `$${n < 1 ? n.toFixed(4) : n.toFixed(2)}`),
  time: (iso) => iso.slice(11, 23),
};

function Chart({ title, id, data, series, log = false }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(300, box.current.clientWidth);
    plot.current = new uPlot(
      {
        width,
        height: CHART_HEIGHT,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: false, value: (_u, v) => (v === null ? '-' : s.format(v)) }))],
        axes: [{}, { size: 72, values: (_u, ticks) => ticks.map((v) => series[0].format(v)) }],
        // Durations span decades (a cached answer, a long stream): a log scale shows both.
        scales: { x: { time: true }, ...(log && { y: { distr: 3 } }) },
      },
      data,
      box.current,
    );
    const onResize = () => plot.current.setSize({ width: Math.max(300, box.current.clientWidth), height: CHART_HEIGHT });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      plot.current.destroy();
    };
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return html`<section class="panel wide" id=${id}><h2>${title}</h2><div ref=${box}></div></section>`;
}

function Stat({ label, value, id, bad }) {
  return html`<div class=${`stat${bad ? ' bad' : ''}`}><div class="label">${label}</div><div class="value" id=${id}>${value}</div></div>`;
}

function Headline({ snap }) {
  const recent = snap.percentiles.recent;
  const last = (name) => {
    const values = snap.series[name];
    return values[values.length - 2] ?? 0;
  };
  return html`<section class="panel wide" id="panel-headline">
    <div class="stats">
      <${Stat} label="requests (total)" id="total-requests" value=${fmt.int(snap.totals.requests)} />
      <${Stat} label="errors (total)" id="total-errors" value=${fmt.int(snap.totals.errors)} bad=${snap.totals.errors > 0} />
      <${Stat} label="requests/s" id="rps" value=${fmt.int(last('requests'))} />
      <${Stat} label="errors/s" id="eps" value=${fmt.int(last('errors'))} bad=${last('errors') > 0} />
      <${Stat} label="tokens (total)" id="total-tokens" value=${fmt.int(snap.totals.tokens.prompt + snap.totals.tokens.completion)} />
      <${Stat} label="cost (total)" id="total-cost" value=${fmt.usd(snap.totals.cost_usd)} />
    </div>
    <table class="percentiles" id="percentiles">
      <thead><tr><th>last ${snap.recent_s} s</th><th>count</th><th>p50</th><th>p90</th><th>p99</th></tr></thead>
      <tbody>
        ${[['latency', recent.latency], ['time to first token', recent.ttfb]].map(
          ([name, p]) => html`<tr><td>${name}</td><td>${fmt.int(p.count)}</td><td>${fmt.ms(p.p50)}</td><td>${fmt.ms(p.p90)}</td><td>${fmt.ms(p.p99)}</td></tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function Totals({ snap }) {
  const [dimension, setDimension] = useState('key');
  const rows = snap.by[dimension];
  return html`<section class="panel" id="panel-totals">
    <h2>Tokens and cost by
      <select id="totals-dimension" value=${dimension} onChange=${(e) => setDimension(e.currentTarget.value)}>
        ${['key', 'route', 'provider', 'model'].map((d) => html`<option value=${d}>${d}</option>`)}
      </select>
      <small> since start, ${snap.max_labels} rows at most</small>
    </h2>
    <table>
      <thead><tr><th>${dimension}</th><th>requests</th><th>errors</th><th>prompt tokens</th><th>completion tokens</th><th>cost</th></tr></thead>
      <tbody>
        ${rows.map(
          (r) => html`<tr><td>${r.label}</td><td>${fmt.int(r.requests)}</td><td class=${r.errors > 0 ? 'bad' : ''}>${fmt.int(r.errors)}</td><td>${fmt.int(r.tokens.prompt)}</td><td>${fmt.int(r.tokens.completion)}</td><td>${fmt.usd(r.cost_usd)}</td></tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function Targets({ snap }) {
  return html`<section class="panel" id="panel-targets">
    <h2>Targets</h2>
    ${snap.targets.length === 0 ? html`<p class="muted">No routes are configured: requests go to the provider they name.</p>` : ''}
    <table>
      <thead><tr><th>route</th><th>target</th><th>state</th><th>breaker</th><th>failures / attempts</th><th>key</th><th>latency</th></tr></thead>
      <tbody>
        ${snap.targets.flatMap((route) =>
          route.targets.map(
            (t) => html`<tr class=${t.failing ? 'failing' : ''} data-target=${t.id}>
              <td>${route.route}</td><td>${t.id} <small>${t.provider}</small></td>
              <td class="state">${t.failing ? 'FAILING' : 'ok'}</td>
              <td>${t.breaker.state}${t.breaker.halfOpenInMs !== undefined ? html` <small>(half-open in ${fmt.ms(t.breaker.halfOpenInMs)})</small>` : ''}</td>
              <td>${t.breaker.failures} / ${t.breaker.requests}</td>
              <td>${t.key.available ? 'available' : `${t.key.reason} (${fmt.ms(t.key.availableInMs)})`}</td>
              <td>${fmt.ms(t.latency.ewmaMs ?? null)}</td>
            </tr>`,
          ),
        )}
      </tbody>
    </table>
  </section>`;
}

function Limits({ snap }) {
  if (snap.limits === null) return html`<section class="panel" id="panel-limits"><h2>Limits and budgets</h2><p class="muted">No gateway keys are configured.</p></section>`;
  const shown = (limit, v) => (limit.startsWith('usd') ? fmt.usd(v) : fmt.int(v));
  return html`<section class="panel" id="panel-limits">
    <h2>Limits and budgets</h2>
    <table>
      <thead><tr><th>key</th><th>owner</th><th>limit</th><th>used</th><th></th></tr></thead>
      <tbody>
        ${snap.limits.flatMap((k) =>
          k.limits.map((l) => {
            const share = l.used === null ? 0 : Math.min(1, l.used / l.max);
            return html`<tr class=${share >= 1 ? 'failing' : ''}><td>${k.key}</td><td>${l.owner}</td><td>${l.limit} ${shown(l.limit, l.max)}</td><td>${l.used === null ? '-' : shown(l.limit, l.used)}</td>
              <td><meter min="0" max="1" high="0.8" value=${share}></meter></td></tr>`;
          }),
        )}
      </tbody>
    </table>
  </section>`;
}

function RequestRows({ rows, withError }) {
  return rows.map(
    (r) => html`<tr class=${r.status >= 400 ? 'failing' : ''}>
      <td>${fmt.time(r.time)}</td><td>${r.status}</td><td>${r.method} ${r.path}</td><td>${r.key ?? '-'}</td><td>${r.route ?? '-'}</td>
      <td>${r.provider ?? '-'}</td><td>${r.model ?? '-'}</td><td>${fmt.ms(r.duration_ms)}</td><td>${fmt.ms(r.ttfb_ms)}</td>
      <td>${fmt.int(r.tokens.prompt + r.tokens.completion)}</td>${withError ? html`<td class="message">${r.error ?? ''}</td>` : ''}
    </tr>`,
  );
}

function Recent({ snap, filter, setFilter }) {
  const keys = snap.by.key.map((r) => r.label);
  const routes = snap.by.route.map((r) => r.label);
  const select = (name, values) => html`<label>${name} <select id=${`filter-${name}`} value=${filter[name] ?? ''} onChange=${(e) => setFilter({ ...filter, [name]: e.currentTarget.value || undefined })}>
      <option value="">all</option>${values.map((v) => html`<option value=${v}>${v}</option>`)}
    </select></label>`;
  return html`<section class="panel wide" id="panel-recent">
    <h2>Recent requests</h2>
    <div class="filters">${select('status', ['2xx', '4xx', '5xx'])} ${select('key', keys)} ${select('route', routes)}</div>
    <div class="scroll"><table>
      <thead><tr><th>time</th><th>status</th><th>request</th><th>key</th><th>route</th><th>provider</th><th>model</th><th>duration</th><th>TTFT</th><th>tokens</th></tr></thead>
      <tbody><${RequestRows} rows=${snap.recent} /></tbody>
    </table></div>
  </section>`;
}

function Errors({ snap }) {
  return html`<section class="panel wide" id="panel-errors">
    <h2>Recent errors</h2>
    ${snap.errors.length === 0 ? html`<p class="muted">None.</p>` : ''}
    <div class="scroll"><table>
      <thead><tr><th>time</th><th>status</th><th>request</th><th>key</th><th>route</th><th>provider</th><th>model</th><th>duration</th><th>TTFT</th><th>tokens</th><th>message</th></tr></thead>
      <tbody><${RequestRows} rows=${snap.errors} withError=${true} /></tbody>
    </table></div>
  </section>`;
}

function AdminKeyForm({ onKey, refused }) {
  const input = useRef(null);
  return html`<form class="panel" id="admin-key-form" onSubmit=${(e) => { e.preventDefault(); onKey(input.current.value.trim()); }}>
    <h2>Admin key</h2>
    <p>${refused ? 'That key was refused. ' : ''}The dashboard's data needs the gateway's admin key. It is kept in this tab only (sessionStorage).</p>
    <input ref=${input} type="password" id="admin-key" autocomplete="off" placeholder="admin key" />
    <button type="submit">Show the dashboard</button>
  </form>`;
}

function seriesData(series, names) {
  return [series.t, ...names.map((name) => series[name])];
}

function App() {
  const [snap, setSnap] = useState(null);
  const [problem, setProblem] = useState(null);
  const [adminKey, setAdminKey] = useState(() => sessionStorage.getItem(ADMIN_KEY_ITEM));
  const [needsKey, setNeedsKey] = useState(false);
  const [filter, setFilter] = useState({});
  const filterRef = useRef(filter);
  filterRef.current = filter;

  useEffect(() => {
    if (needsKey) return undefined;
    let timer;
    let stopped = false;
    const poll = async () => {
      if (document.hidden) return schedule();
      const query = new URLSearchParams(Object.entries(filterRef.current).filter(([, v]) => v !== undefined));
      try {
        const response = await fetch(`${SNAPSHOT_URL}${query.size > 0 ? `?${query}` : ''}`, {
          headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {},
          cache: 'no-store',
        });
        if (response.status === 401) {
          sessionStorage.removeItem(ADMIN_KEY_ITEM);
          setNeedsKey(true);
          return undefined;
        }
        const body = await response.json();
        if (!response.ok) setProblem(body.error?.message ?? `HTTP ${response.status}`);
        else {
          setProblem(null);
          setSnap(body);
        }
      } catch (err) {
        setProblem(`The gateway did not answer: ${err.message}`);
      }
      return schedule();
    };
    const schedule = () => {
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [adminKey, needsKey]);

  if (needsKey) {
    return html`<${AdminKeyForm} refused=${adminKey !== null} onKey=${(key) => { sessionStorage.setItem(ADMIN_KEY_ITEM, key); setAdminKey(key); setNeedsKey(false); }} />`;
  }
  return html`<main>
    <header><h1>ai-gateway</h1>${snap ? html`<span class="muted">${snap.version}, up ${fmt.int(snap.uptime_s)} s, ${snap.time.slice(11, 19)} UTC</span>` : ''}
      ${problem ? html`<span class="problem" id="problem">${problem}</span>` : ''}</header>
    ${snap === null
      ? html`<p class="muted">Loading…</p>`
      : html`<div class="grid">
          <${Headline} snap=${snap} />
          <${Chart} title="Requests and errors per second" id="panel-traffic" data=${seriesData(snap.series, ['requests', 'errors'])}
            series=${[{ label: 'requests/s', color: '#2563eb', format: fmt.int }, { label: 'errors/s', color: '#dc2626', format: fmt.int }]} />
          <${Chart} title="Latency and time to first token (per second)" id="panel-latency" log=${true} data=${seriesData(snap.series, ['latency_p50', 'latency_p99', 'ttfb_p50', 'ttfb_p99'])}
            series=${[
              { label: 'latency p50', color: '#2563eb', format: fmt.ms },
              { label: 'latency p99', color: '#7c3aed', format: fmt.ms },
              { label: 'TTFT p50', color: '#059669', format: fmt.ms },
              { label: 'TTFT p99', color: '#d97706', format: fmt.ms },
            ]} />
          <${Targets} snap=${snap} />
          <${Limits} snap=${snap} />
          <${Totals} snap=${snap} />
          <${Recent} snap=${snap} filter=${filter} setFilter=${setFilter} />
          <${Errors} snap=${snap} />
        </div>`}
  </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
