// Limits and budgets that hold across gateway processes: two gateways (separate processes, as
// replicas are) share one real redis-server. One RPM limit and one budget hold for both together
// under concurrent load; Redis stopped mid-run makes no request hang, fail-open limits serve and
// fail-closed ones refuse, and both recover when Redis returns; a monthly budget survives a
// restart of the gateway.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { MODEL, startGatewayProcess } from './helpers.js';
import { configFileWith, sha256, sharedGatewayEnv } from './keys-helpers.js';
import { RedisServer, skipRedis } from './redis-server.js';

const RPM_KEY = 'gk-shared-rpm-0123456789';
const BUDGET_KEY = 'gk-shared-budget-0123456789';
const OPEN_KEY = 'gk-open-0123456789abcdef';
const CLOSED_KEY = 'gk-closed-0123456789abcdef';
const MONTHLY_KEY = 'gk-monthly-0123456789abcdef';
const RPM = 20;
const BUDGET_USD = 0.1;
const MONTHLY_USD = 0.1;
const PRICE = 1_000;

function configFile(): string {
  return configFileWith(
    `
prices:
  - {provider: fireworks, model: ${MODEL}, input: ${PRICE}, output: ${PRICE}}
keys:
  - {name: shared-rpm, sha256: ${sha256(RPM_KEY)}, limits: {rpm: ${RPM}}}
  - {name: shared-budget, sha256: ${sha256(BUDGET_KEY)}, limits: {usd_per_day: ${BUDGET_USD}}}
  - {name: open, sha256: ${sha256(OPEN_KEY)}, limits: {rpm: 1000, on_store_failure: open}}
  - {name: closed, sha256: ${sha256(CLOSED_KEY)}, limits: {rpm: 1000, on_store_failure: closed}}
  - {name: monthly, sha256: ${sha256(MONTHLY_KEY)}, limits: {usd_per_month: ${MONTHLY_USD}}}
`,
    'governance-redis-',
  );
}

interface Answer {
  status: number;
  code: string | undefined;
  cost: number;
  ms: number;
}

async function ask(origin: string, key: string): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`${origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-provider': 'fireworks' },
    body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Say hello' }] }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  const cost = Number(res.headers.get('x-gateway-cost-usd') ?? 0);
  return { status: res.status, code: body.error?.code, cost: Number.isFinite(cost) ? cost : 0, ms: performance.now() - started };
}

describe('limits shared through Redis by two gateway processes', { skip: skipRedis }, () => {
  let redis: RedisServer;
  let sim: FireworksSim;
  let env: Record<string, string>;
  const gateways: { child: ChildProcess; origin: string }[] = [];

  before(async () => {
    redis = await RedisServer.start({ appendonly: true });
    sim = await startFireworksSim({ port: 0 });
    env = sharedGatewayEnv(configFile(), sim.url, redis.url);
    for (let i = 0; i < 2; i++) gateways.push(await startGatewayProcess(env));
  });
  after(async () => {
    for (const gateway of gateways) gateway.child.kill('SIGKILL');
    await sim.close();
    await redis.close();
  });

  test('one RPM limit for both: of 60 concurrent requests spread over the two, exactly the limit passes', async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => ask(gateways[i % 2]!.origin, RPM_KEY)));
    const passed = answers.filter((answer) => answer.status === 200).length;
    const limited = answers.filter((answer) => answer.status === 429 && answer.code === 'rate_limit_exceeded').length;
    assert.equal(passed, RPM, `${passed} passed`);
    assert.equal(limited, 60 - RPM);
  });

  test('one budget for both: concurrent requests over the two spend at most the budget', async () => {
    // Each request reserves its estimate (its size and max_tokens at the price) before it goes, and
    // settles at its real cost: rounds go on until a whole round is refused.
    let spent = 0;
    let refused = 0;
    for (let round = 0, served = -1; round < 40 && served !== 0; round++) {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(gateways[i % 2]!.origin, BUDGET_KEY)));
      served = 0;
      for (const answer of answers) {
        if (answer.status === 200) {
          served++;
          spent += answer.cost;
        } else if (answer.code === 'budget_exceeded') refused++;
        else assert.fail(`unexpected answer ${answer.status} ${answer.code}`);
      }
    }
    assert.ok(refused > 0, 'the budget ran out');
    assert.ok(spent > BUDGET_USD / 2, `most of the budget was used ($${spent})`);
    assert.ok(spent <= BUDGET_USD + 1e-9, `spent $${spent} of $${BUDGET_USD}: no overshoot`);
  });

  test('Redis stopped: no request hangs; fail-open serves, fail-closed refuses with a 503; both recover when Redis returns', async () => {
    const [first] = gateways;
    assert.equal((await ask(first!.origin, CLOSED_KEY)).status, 200);
    await redis.stop('SIGKILL');
    try {
      const open = await Promise.all(Array.from({ length: 10 }, () => ask(first!.origin, OPEN_KEY)));
      const closed = await Promise.all(Array.from({ length: 10 }, () => ask(first!.origin, CLOSED_KEY)));
      for (const answer of open) assert.equal(answer.status, 200, 'a fail-open limit serves on local counts');
      for (const answer of closed) {
        assert.equal(answer.status, 503);
        assert.equal(answer.code, 'limits_unavailable');
      }
      // Redis is gone: no answer waits on it (its connection is down, nothing is queued), whatever REDIS_TIMEOUT_MS.
      const slowest = Math.max(...[...open, ...closed].map((answer) => answer.ms));
      assert.ok(slowest < 2_000, `slowest answer ${slowest.toFixed(0)} ms`);
      const metrics = await (await fetch(`${first!.origin}/metrics`)).text();
      assert.match(metrics, /^gateway_state_store_up\{store="redis"\} 0$/m, 'the store shows down in the metrics');
      assert.match(metrics, /^gateway_limit_refusals_total\{owner="key:closed",limit="unavailable"\} 10$/m);
      assert.match(metrics, /^gateway_limit_local_admissions_total 10$/m, 'and the admissions served on local counts');
      const health = (await (await fetch(`${first!.origin}/health`)).json()) as { status: string; state: { store: string; up: boolean } };
      assert.equal(health.status, 'ok');
      assert.deepEqual([health.state.store, health.state.up], ['redis', false]);
    } finally {
      await redis.restart({ appendonly: true });
    }
    const deadline = Date.now() + 10_000;
    let answer = await ask(first!.origin, CLOSED_KEY);
    while (answer.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answer = await ask(first!.origin, CLOSED_KEY);
    }
    assert.equal(answer.status, 200, 'back on Redis once it returns');
  });

  test('a monthly budget survives a restart of the gateway (and of Redis, with its append-only file)', async () => {
    const gateway = gateways[0]!;
    let spent = 0;
    let answer = await ask(gateway.origin, MONTHLY_KEY);
    while (answer.status === 200) {
      spent += answer.cost;
      answer = await ask(gateway.origin, MONTHLY_KEY);
    }
    assert.equal(answer.code, 'budget_exceeded');
    assert.ok(spent > 0);
    gateway.child.kill('SIGKILL');
    await redis.restart({ appendonly: true });
    const restarted = await startGatewayProcess(env);
    gateways[0] = restarted;
    const after = await ask(restarted.origin, MONTHLY_KEY);
    assert.equal(after.status, 429, 'the spend is still counted');
    assert.equal(after.code, 'budget_exceeded');
  });
});
