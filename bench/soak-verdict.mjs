// The soak's verdict (bench/soak.mjs), apart from the traffic, so that a test can feed it samples
// and tallies of its own and see it fail on growth, a lost request, or an error without a body.
//
// The rule for growth, after the warm-up: the samples are split in thirds, and the mean of the
// last third is compared with the mean of the first. The heap after a full collection may grow by
// at most HEAP_GROWTH_MIN_BYTES or HEAP_GROWTH_RATIO of the first third's mean, whichever is
// larger; each kind of open handle (sockets, timers...) by at most HANDLE_GROWTH_MIN or
// HANDLE_GROWTH_RATIO of its first-third mean. Means over thirds, not two single samples, because
// at a fixed concurrency the requests in flight at the instant of a sample hold a varying share of
// both. RSS is reported, not judged: V8 and the allocator return pages to the system when they
// please.

/** Heap growth always allowed: what the requests in flight at one instant hold, and then some. */
export const HEAP_GROWTH_MIN_BYTES = 4 * 1024 * 1024;
/** Heap growth allowed as a share of the heap after the warm-up. */
export const HEAP_GROWTH_RATIO = 0.1;
/** Growth of one kind of handle always allowed: a few connections or timers more at one instant. */
export const HANDLE_GROWTH_MIN = 8;
/** Growth of one kind of handle allowed as a share of its count after the warm-up. */
export const HANDLE_GROWTH_RATIO = 0.25;
/** Fewer samples than this after the warm-up cannot tell growth from noise. */
export const MIN_SAMPLES_AFTER_WARMUP = 6;

const MIB = 1024 * 1024;
const MS_PER_MINUTE = 60_000;

const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Least-squares slope of `y` over `x`. */
function slope(x, y) {
  const mx = mean(x);
  const my = mean(y);
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - mx) * (y[i] - my);
    den += (x[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Growth after the warm-up. `samples`: `{ tMs, heapUsedBytes, rssBytes, handles: { kind: n } }`
 * in time order, `tMs` from the start of the traffic.
 */
export function growth(samples, warmupMs) {
  const after = samples.filter((sample) => sample.tMs >= warmupMs);
  if (after.length < MIN_SAMPLES_AFTER_WARMUP) return { judged: false, samples: after.length };
  const third = Math.floor(after.length / 3);
  const first = after.slice(0, third);
  const last = after.slice(-third);
  const minutes = after.map((sample) => sample.tMs / MS_PER_MINUTE);

  const heapFirst = mean(first.map((sample) => sample.heapUsedBytes));
  const heapLast = mean(last.map((sample) => sample.heapUsedBytes));
  const heapBound = Math.max(HEAP_GROWTH_MIN_BYTES, HEAP_GROWTH_RATIO * heapFirst);
  const heap = {
    firstBytes: heapFirst,
    lastBytes: heapLast,
    growthBytes: heapLast - heapFirst,
    boundBytes: heapBound,
    slopeBytesPerMinute: slope(minutes, after.map((sample) => sample.heapUsedBytes)),
    ok: heapLast - heapFirst <= heapBound,
  };
  const rssFirst = mean(first.map((sample) => sample.rssBytes));
  const rssLast = mean(last.map((sample) => sample.rssBytes));
  const rss = { firstBytes: rssFirst, lastBytes: rssLast, growthBytes: rssLast - rssFirst, slopeBytesPerMinute: slope(minutes, after.map((sample) => sample.rssBytes)) };

  const kinds = new Set(after.flatMap((sample) => Object.keys(sample.handles)));
  const handles = {};
  for (const kind of [...kinds].sort()) {
    const countOf = (sample) => sample.handles[kind] ?? 0;
    const firstMean = mean(first.map(countOf));
    const lastMean = mean(last.map(countOf));
    const bound = Math.max(HANDLE_GROWTH_MIN, HANDLE_GROWTH_RATIO * firstMean);
    handles[kind] = { first: firstMean, last: lastMean, growth: lastMean - firstMean, bound, ok: lastMean - firstMean <= bound };
  }
  return { judged: true, samples: after.length, windowSamples: third, heap, rss, handles };
}

const total = (counts) => Object.values(counts).reduce((sum, count) => sum + count, 0);
const listed = (counts) =>
  Object.entries(counts)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${kind} ×${count}`)
    .join(', ');
const mb = (bytes) => `${(bytes / MIB).toFixed(1)} MB`;

/**
 * PASS only if all four hold:
 *  (a) no growth beyond the bounds above after the warm-up;
 *  (b) no lost request where a fallback exists: every request to the fallback route succeeded;
 *  (c) no error without an error body: every non-2xx answer carried its API's JSON error body and
 *      every stream that ended early ended with its API's error event (`tally.withoutErrorBody`);
 *  (d) no unexpected failure elsewhere (`tally.unexpected`, by kind), and every scenario ran.
 * `tally`: `{ fallback: { requests, lost, servedBy: { targetId: n } }, withoutErrorBody: { kind: n }, unexpected: { kind: n },
 * scenarios: { name: { outcome: n } } }`.
 */
export function verdict({ samples, warmupMs, tally }) {
  const reasons = [];
  const grew = growth(samples, warmupMs);
  if (!grew.judged) {
    reasons.push(`(a) ${grew.samples} samples after the warm-up, fewer than ${MIN_SAMPLES_AFTER_WARMUP}: growth not judged`);
  } else {
    if (!grew.heap.ok) reasons.push(`(a) heap after GC grew ${mb(grew.heap.growthBytes)} (${mb(grew.heap.firstBytes)} → ${mb(grew.heap.lastBytes)}), beyond ${mb(grew.heap.boundBytes)}`);
    for (const [kind, handle] of Object.entries(grew.handles)) {
      if (!handle.ok) reasons.push(`(a) ${kind} handles grew ${handle.growth.toFixed(1)} (${handle.first.toFixed(1)} → ${handle.last.toFixed(1)}), beyond ${handle.bound.toFixed(1)}`);
    }
  }
  if (tally.fallback.requests === 0) reasons.push('(b) no request reached the fallback route');
  // Without a fallback answer the primary's faults never took, and (b) proved nothing.
  if (tally.fallback.servedBy !== undefined && !(tally.fallback.servedBy.fallback > 0)) reasons.push('(b) the fallback target served no request: the primary never failed');
  if (tally.fallback.lost > 0) reasons.push(`(b) ${tally.fallback.lost} of ${tally.fallback.requests} requests to the fallback route lost`);
  if (total(tally.withoutErrorBody) > 0) reasons.push(`(c) errors without an error body: ${listed(tally.withoutErrorBody)}`);
  if (total(tally.unexpected) > 0) reasons.push(`(d) unexpected failures: ${listed(tally.unexpected)}`);
  const idle = Object.entries(tally.scenarios)
    .filter(([, outcomes]) => total(outcomes) === 0)
    .map(([name]) => name);
  if (idle.length > 0) reasons.push(`(d) scenarios that sent nothing: ${idle.join(', ')}`);
  return { pass: reasons.length === 0, reasons, growth: grew };
}

/** The one line a reader looks for. */
export function verdictLine({ pass, reasons, growth: grew }) {
  if (!pass) return `FAIL: ${reasons.join('; ')}`;
  const handleGrowth = Object.entries(grew.handles)
    .map(([kind, handle]) => `${kind} ${handle.growth >= 0 ? '+' : ''}${handle.growth.toFixed(1)}`)
    .join(', ');
  return (
    `PASS: heap after GC ${mb(grew.heap.firstBytes)} → ${mb(grew.heap.lastBytes)} (bound +${mb(grew.heap.boundBytes)}), ` +
    `handles ${handleGrowth}, RSS ${mb(grew.rss.firstBytes)} → ${mb(grew.rss.lastBytes)}; ` +
    'no fallback request lost, every error with its body, no unexpected failure'
  );
}
