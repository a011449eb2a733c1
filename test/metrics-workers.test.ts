// Prometheus metrics of a cluster (WORKERS=2): a scrape, whichever worker takes it, answers the sum
// over all workers, the same at every scrape; a worker killed and replaced does not make the sums
// drop; a worker that cannot answer makes the scrape a prompt 503, not a hang. The built gateway
// runs as a process, with the Fireworks simulator in this one.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { KEY, MODEL, closedPort, startGatewayProcess, until } from './helpers.js';

let sim: FireworksSim;
before(async () => {
  sim = await startFireworksSim();
});
after(() => sim.close());

/** A worker's wait before a scrape fails: short, so that the test of a stuck worker is quick. */
const WORKER_TIMEOUT_MS = 400;

interface Answer {
  status: number;
  text: string;
}

/** One request on a connection of its own, so that the cluster hands each to a worker in turn. */
function send(origin: string, method: string, path: string, body?: string, timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${origin}${path}`,
      { method, agent: false, timeout: timeoutMs, headers: body === undefined ? {} : { 'content-type': 'application/json', authorization: `Bearer ${KEY}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function chat(origin: string): Promise<Answer> {
  return send(origin, 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }));
}

/** The sum of the samples of `name` (any labels) in an exposition. */
function sumOf(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function workerPids(primary: number): number[] {
  return execFileSync('ps', ['--ppid', String(primary), '-o', 'pid='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => pid > 0);
}

async function sendChats(origin: string, count: number): Promise<void> {
  // Eight at a time, each on its own connection: both workers take some.
  for (let i = 0; i < count; i += 8) {
    const answers = await Promise.all(Array.from({ length: Math.min(8, count - i) }, () => chat(origin)));
    for (const answer of answers) assert.equal(answer.status, 200, answer.text);
  }
}

describe('metrics with WORKERS=2', () => {
  test('every scrape answers the sum over both workers, the same each time, and keeps a killed worker\'s counts', async () => {
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, WORKERS: '2', METRICS_WORKER_TIMEOUT_MS: String(WORKER_TIMEOUT_MS) });
    try {
      const requests = 40;
      await sendChats(gw.origin, requests);
      const requestLines = () => gw.output().split('\n').filter((line) => line.includes('"msg":"request"'));
      await until(() => requestLines().length >= requests, 5_000);
      const pids = new Set(requestLines().map((line) => (JSON.parse(line) as { pid: number }).pid));
      assert.equal(pids.size, 2, 'both workers served requests');

      for (let i = 0; i < 5; i++) {
        const scrape = await send(gw.origin, 'GET', '/metrics');
        assert.equal(scrape.status, 200, scrape.text);
        assert.equal(sumOf(scrape.text, 'gateway_requests_total'), requests, `scrape ${i + 1}: requests`);
        assert.equal(sumOf(scrape.text, 'gateway_request_duration_seconds_count'), requests, `scrape ${i + 1}: the duration histogram's count`);
        assert.equal(sumOf(scrape.text, 'gateway_attempts_total'), requests, `scrape ${i + 1}: attempts`);
        // Each metric once, however many workers reported it.
        assert.equal(scrape.text.split('\n').filter((line) => line === '# TYPE gateway_requests_total counter').length, 1);
      }

      // A worker killed outright: the primary starts another, and the sums keep what it last reported.
      const [victim] = workerPids(gw.child.pid!);
      process.kill(victim!, 'SIGKILL');
      await until(() => gw.output().includes('worker died'), 5_000);
      const started = Date.now();
      const afterKill = await send(gw.origin, 'GET', '/metrics');
      assert.ok(Date.now() - started < 5_000, 'the scrape after a worker died answered promptly');
      assert.equal(afterKill.status, 200, afterKill.text);
      assert.equal(sumOf(afterKill.text, 'gateway_requests_total'), requests, 'a dead worker\'s requests are still counted');

      await until(() => workerPids(gw.child.pid!).length === 2, 10_000);
      const more = 16;
      await sendChats(gw.origin, more);
      const later = await send(gw.origin, 'GET', '/metrics');
      assert.equal(later.status, 200, later.text);
      assert.equal(sumOf(later.text, 'gateway_requests_total'), requests + more);
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  test('METRICS_PORT, shared by the workers, answers the same sum', async () => {
    const metricsPort = await closedPort();
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, WORKERS: '2', METRICS_PORT: String(metricsPort) });
    try {
      const requests = 24;
      await sendChats(gw.origin, requests);
      for (let i = 0; i < 4; i++) {
        const scrape = await send(`http://127.0.0.1:${metricsPort}`, 'GET', '/metrics');
        assert.equal(scrape.status, 200, scrape.text);
        assert.equal(sumOf(scrape.text, 'gateway_requests_total'), requests, `scrape ${i + 1}`);
      }
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  test('a worker that cannot answer makes a scrape a 503 within METRICS_WORKER_TIMEOUT_MS, naming it', async () => {
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, WORKERS: '2', METRICS_WORKER_TIMEOUT_MS: String(WORKER_TIMEOUT_MS) });
    const [stuck, other] = workerPids(gw.child.pid!);
    try {
      assert.ok(stuck !== undefined && other !== undefined, 'two workers');
      process.kill(stuck, 'SIGSTOP');
      // The cluster may hand one connection to the stopped worker, which never answers it; the
      // others go to the live one.
      const answers = await Promise.allSettled(
        Array.from({ length: 3 }, async () => {
          const started = Date.now();
          const answer = await send(gw.origin, 'GET', '/metrics', undefined, 3_000);
          return { ...answer, ms: Date.now() - started };
        }),
      );
      const answered = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
      assert.ok(answered.length >= 2, `at least two scrapes answered: ${JSON.stringify(answers)}`);
      for (const answer of answered) {
        assert.equal(answer.status, 503, answer.text);
        const { error } = JSON.parse(answer.text) as { error: { message: string; code: string } };
        assert.equal(error.code, 'metrics_unavailable');
        assert.match(error.message, new RegExp(`worker ${stuck} did not answer within ${WORKER_TIMEOUT_MS} ms`));
        assert.ok(answer.ms < WORKER_TIMEOUT_MS + 3_000, `answered in ${answer.ms} ms`);
      }

      process.kill(stuck, 'SIGCONT');
      const resumed = await send(gw.origin, 'GET', '/metrics');
      assert.equal(resumed.status, 200, resumed.text);
    } finally {
      if (stuck !== undefined) process.kill(stuck, 'SIGCONT');
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });
});
