// bench/soak.mjs: a short run that must pass its own verdict, so that the script cannot rot, and
// its verdict (bench/soak-verdict.mjs) fed samples and tallies made up to fail it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

interface Sample {
  tMs: number;
  heapUsedBytes: number;
  rssBytes: number;
  handles: Record<string, number>;
}
interface Tally {
  fallback: { requests: number; lost: number; servedBy?: Record<string, number> };
  withoutErrorBody: Record<string, number>;
  unexpected: Record<string, number>;
  scenarios: Record<string, Record<string, number>>;
}
interface Verdict {
  pass: boolean;
  reasons: string[];
  growth: { judged: boolean; heap?: { growthBytes: number; slopeBytesPerMinute: number } };
}
interface VerdictModule {
  verdict(input: { samples: Sample[]; warmupMs: number; tally: Tally }): Verdict;
  verdictLine(judged: Verdict): string;
}

// The bench lives beside dist/, not in it: found from this file's place at run time.
const benchDir = fileURLToPath(new URL('../../bench/', import.meta.url));
const { verdict, verdictLine } = (await import(join(benchDir, 'soak-verdict.mjs'))) as VerdictModule;

const MIB = 1024 * 1024;
const SAMPLE_MS = 10_000;
const WARMUP_MS = 60_000;
/** Ten minutes of samples, 10 s apart. */
const SAMPLES = 60;

/** Samples of a steady gateway: the heap and the sockets wobble with the requests in flight. */
function steadySamples(heapAt: (i: number) => number = () => 0, socketsAt: (i: number) => number = () => 0): Sample[] {
  return Array.from({ length: SAMPLES }, (_, i) => ({
    tMs: (i + 1) * SAMPLE_MS,
    heapUsedBytes: 30 * MIB + (i % 2 === 0 ? 1 : -1) * 0.8 * MIB + heapAt(i),
    rssBytes: 120 * MIB + (i % 3) * MIB,
    handles: { TCPSocketWrap: 30 + (i % 4) + socketsAt(i), Timeout: 12 - (i % 3), TCPServerWrap: 1 },
  }));
}

function cleanTally(): Tally {
  return {
    fallback: { requests: 500, lost: 0, servedBy: { primary: 300, fallback: 200 } },
    withoutErrorBody: {},
    unexpected: {},
    scenarios: { 'chat fireworks': { ok: 1000 }, 'route chat': { ok: 500 } },
  };
}

test('the verdict passes a steady run, and says why in one line', () => {
  const judged = verdict({ samples: steadySamples(), warmupMs: WARMUP_MS, tally: cleanTally() });
  assert.deepEqual(judged.reasons, []);
  assert.equal(judged.pass, true);
  assert.match(verdictLine(judged), /^PASS: heap after GC 30\.\d MB → 30\.\d MB/);
});

test('the verdict fails a heap that grows 200 KB a sample (1.2 MB a minute), however the samples wobble', () => {
  const judged = verdict({ samples: steadySamples((i) => i * 200 * 1024), warmupMs: WARMUP_MS, tally: cleanTally() });
  assert.equal(judged.pass, false);
  assert.equal(judged.reasons.length, 1);
  assert.match(judged.reasons[0]!, /^\(a\) heap after GC grew [\d.]+ MB/);
  assert.ok(judged.growth.heap!.slopeBytesPerMinute > 500 * 1024, `slope ${judged.growth.heap!.slopeBytesPerMinute} B/min`);
  assert.match(verdictLine(judged), /^FAIL: \(a\) heap after GC grew/);
});

test('the verdict fails sockets that pile up, and ignores growth during the warm-up', () => {
  const leaking = verdict({ samples: steadySamples(undefined, (i) => i), warmupMs: WARMUP_MS, tally: cleanTally() });
  assert.equal(leaking.pass, false);
  assert.match(leaking.reasons.join('\n'), /^\(a\) TCPSocketWrap handles grew/m);

  const warmingUp = steadySamples((i) => (i < 5 ? i * 2 * MIB : 10 * MIB), (i) => (i < 5 ? i * 10 : 50));
  assert.equal(verdict({ samples: warmingUp, warmupMs: WARMUP_MS, tally: cleanTally() }).pass, true);
});

test('the verdict fails a lost request on the fallback route, and a fallback that never served', () => {
  const lost = cleanTally();
  lost.fallback.lost = 1;
  const judged = verdict({ samples: steadySamples(), warmupMs: WARMUP_MS, tally: lost });
  assert.equal(judged.pass, false);
  assert.deepEqual(judged.reasons, ['(b) 1 of 500 requests to the fallback route lost']);

  const neverFailed = cleanTally();
  neverFailed.fallback.servedBy = { primary: 500 };
  assert.match(verdict({ samples: steadySamples(), warmupMs: WARMUP_MS, tally: neverFailed }).reasons.join('\n'), /^\(b\) the fallback target served no request/m);
});

test('the verdict fails an error without its body, and an unexpected failure, naming each kind', () => {
  const bodiless = cleanTally();
  bodiless.withoutErrorBody = { 'messages 502 without its error body': 2, 'chat stream ended early without its error event': 1 };
  const judged = verdict({ samples: steadySamples(), warmupMs: WARMUP_MS, tally: bodiless });
  assert.equal(judged.pass, false);
  assert.deepEqual(judged.reasons, ['(c) errors without an error body: messages 502 without its error body ×2, chat stream ended early without its error event ×1']);

  const unexpected = cleanTally();
  unexpected.unexpected = { 'chat fireworks: error-status 502, not ok': 3 };
  unexpected.scenarios['gemini gemini'] = {};
  const reasons = verdict({ samples: steadySamples(), warmupMs: WARMUP_MS, tally: unexpected }).reasons;
  assert.deepEqual(reasons, ['(d) unexpected failures: chat fireworks: error-status 502, not ok ×3', '(d) scenarios that sent nothing: gemini gemini']);
});

test('the verdict does not judge growth from too few samples: it fails', () => {
  const judged = verdict({ samples: steadySamples().slice(0, 8), warmupMs: WARMUP_MS, tally: cleanTally() });
  assert.equal(judged.pass, false);
  assert.equal(judged.growth.judged, false);
  assert.match(judged.reasons[0]!, /^\(a\) 3 samples after the warm-up/);
});

/** A short soak: long enough for the verdict's minimum of samples at one a second, well under 30 s. */
const SMOKE_MINUTES = '0.2';
const SMOKE_TIMEOUT_MS = 60_000;

test('a 12-second soak passes its own verdict, every scenario having run', { timeout: SMOKE_TIMEOUT_MS }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-test-'));
  const resultFile = join(dir, 'soak.json');
  try {
    const child = spawn(process.execPath, [join(benchDir, 'soak.mjs')], {
      env: { PATH: process.env.PATH ?? '', SOAK_MINUTES: SMOKE_MINUTES, SOAK_SAMPLE_SECONDS: '1', SOAK_CONCURRENCY: '8', SOAK_RESULT_FILE: resultFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, output);
    assert.match(output, /^PASS: /m);

    const report = JSON.parse(readFileSync(resultFile, 'utf8')) as {
      pass: boolean;
      samples: Sample[];
      tally: Tally & { requests: number };
    };
    assert.equal(report.pass, true);
    assert.ok(report.samples.length >= 8, `${report.samples.length} samples`);
    for (const sample of report.samples) {
      assert.ok(sample.heapUsedBytes > 0 && sample.rssBytes >= sample.heapUsedBytes, 'heap and RSS from the gateway process');
      assert.ok((sample.handles.TCPServerWrap ?? 0) >= 1, 'the gateway\'s listening socket among its handles');
    }
    const scenarios = Object.entries(report.tally.scenarios);
    assert.ok(scenarios.length >= 30, `${scenarios.length} scenarios`);
    for (const [name, outcomes] of scenarios) assert.ok(Object.keys(outcomes).length > 0, `${name} ran`);
    assert.ok(report.tally.fallback.servedBy!.fallback! > 0, 'the fallback served some of the route\'s requests');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a gateway that dies mid-soak fails the run with a FAIL line naming it, not a crash', { timeout: SMOKE_TIMEOUT_MS }, async () => {
  const child = spawn(process.execPath, [join(benchDir, 'soak.mjs')], {
    env: { PATH: process.env.PATH ?? '', SOAK_MINUTES: SMOKE_MINUTES, SOAK_SAMPLE_SECONDS: '1', SOAK_CONCURRENCY: '4', SOAK_RESULT_FILE: join(mkdtempSync(join(tmpdir(), 'soak-test-')), 'soak.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let killed = false;
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    // Once traffic runs (the first sample is printed), the gateway is killed.
    const pid = /gateway pid (\d+)/.exec(output)?.[1];
    if (!killed && pid !== undefined && /^\| \d+ \|/m.test(output)) {
      killed = true;
      process.kill(Number(pid), 'SIGKILL');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.ok(killed, output);
  assert.equal(code, 1, output);
  assert.match(output, /^FAIL: the gateway exited mid-run \(signal SIGKILL\)/m);
  assert.doesNotMatch(output, /at .*soak\.mjs:\d+/, 'no stack trace');
});
