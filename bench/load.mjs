// A closed-loop load generator on undici: `connections` clients each send a request, wait for the
// whole answer, and send the next. Latency and time to first byte go to HDR histograms (µs).
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import { Pool } from 'undici';

const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });

/**
 * One request; resolves with its timings and whether it fully succeeded: status 200 and, when
 * `expectTail` is given (streams: `data: [DONE]\n\n`), an answer that ends with it.
 */
function send(pool, request, expectTail) {
  return new Promise((resolve) => {
    const start = performance.now();
    let firstByte;
    let status = 0;
    let tail = '';
    pool.dispatch(request, {
      onRequestStart() {},
      onResponseStart(_c, statusCode) {
        status = statusCode;
      },
      onResponseData(_c, chunk) {
        firstByte ??= performance.now();
        if (expectTail) tail = (tail + chunk.toString('latin1', Math.max(0, chunk.length - 32))).slice(-32);
      },
      onResponseEnd() {
        const end = performance.now();
        // A stream that ends otherwise (an error event, a cut) is a failure even with a 200.
        const complete = !expectTail || tail.endsWith(expectTail);
        const ok = status === 200 && complete;
        const error = status === 200 && !complete ? `200, not ended by ${expectTail.trim()}` : undefined;
        resolve({ ok, status, error, latency: end - start, ttfb: (firstByte ?? end) - start });
      },
      onResponseError(_c, error) {
        resolve({ ok: false, status, error: error.code ?? error.message, latency: performance.now() - start });
      },
    });
  });
}

/**
 * Runs `connections` loops for warmupMs (not recorded) then durationMs (recorded).
 * Returns requests/s, latency and ttfb percentiles in ms, the errors seen, and `answered`: the
 * answers (good or not) that arrived in the recorded window. `onWindow(edge)` is called with
 * 'start' and 'end' at the window's edges, for the caller to read counters there.
 */
export async function runLoad({ url, headers, body, connections, durationMs, warmupMs, expectTail, onWindow }) {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0 });
  const request = { method: body ? 'POST' : 'GET', path: target.pathname + target.search, headers, body };
  const latency = histogram();
  const ttfb = histogram();
  const errors = {};
  let completed = 0;
  let sent = 0;
  let answered = 0;
  let recording = false;
  let windowOpen = false;
  const warmupEnd = performance.now() + warmupMs;
  const end = warmupEnd + durationMs;
  setTimeout(() => {
    recording = true;
    windowOpen = true;
    onWindow?.('start');
  }, warmupMs);
  // The window closes when the duration is over, before the answers still in flight arrive (or,
  // on a busy machine where the timer comes late, when the last of them has).
  const closeWindow = () => {
    if (!windowOpen) return;
    windowOpen = false;
    onWindow?.('end');
  };
  const windowEnd = setTimeout(closeWindow, warmupMs + durationMs);

  const worker = async () => {
    while (performance.now() < end) {
      const result = await send(pool, request, expectTail);
      sent++;
      if (windowOpen) answered++;
      if (!recording) continue;
      if (result.ok) {
        completed++;
        latency.recordValue(Math.max(1, Math.round(result.latency * 1000)));
        ttfb.recordValue(Math.max(1, Math.round(result.ttfb * 1000)));
      } else {
        const key = result.error ?? `HTTP ${result.status}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  clearTimeout(windowEnd);
  closeWindow();
  const elapsed = performance.now() - Math.max(started, warmupEnd);
  await pool.close();
  const ms = (h, p) => (h.totalCount ? h.getValueAtPercentile(p) / 1000 : null);
  return {
    requests: completed,
    /** Every answer, warm-up included: what the target's CPU time over the whole run served. */
    sent,
    answered,
    rps: completed / (elapsed / 1000),
    latency: { p50: ms(latency, 50), p90: ms(latency, 90), p99: ms(latency, 99), p999: ms(latency, 99.9), max: latency.totalCount ? latency.maxValue / 1000 : null, mean: latency.totalCount ? latency.mean / 1000 : null },
    ttfb: { p50: ms(ttfb, 50), p99: ms(ttfb, 99) },
    errors,
  };
}

/** Opens `count` requests at once and waits for all of them; for long-lived streams. */
export async function runConcurrent({ url, headers, body, count, expectTail }) {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: count, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const request = { method: 'POST', path: target.pathname, headers, body };
  const results = await Promise.all(Array.from({ length: count }, () => send(pool, request, expectTail)));
  await pool.close();
  const errors = {};
  let completed = 0;
  for (const r of results) {
    if (r.ok) completed++;
    else errors[r.error ?? `HTTP ${r.status}`] = (errors[r.error ?? `HTTP ${r.status}`] ?? 0) + 1;
  }
  return { completed, errors };
}
