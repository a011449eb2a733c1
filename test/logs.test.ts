// One log line per request, and no secret in any line at any level.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { SERVER_KEY_PLACEHOLDER } from '../src/gateway.js';
import { KEY, MODEL, requestLogs, startStack, uniqueKey, until, withSim, type Stack } from './helpers.js';

const SERVER_KEY = 'fw_server_secret_777777';
const OTHER_KEY = 'sk-other-secret-abcdefgh';

let stack: Stack;
before(async () => {
  stack = await startStack({ LOG_LEVEL: 'debug', FIREWORKS_API_KEY: SERVER_KEY });
});
after(() => stack.close());

describe('logs', () => {
  test('one line per request with what happened', async () => {
    const key = uniqueKey('logline');
    const completion = await stack.client().chat.completions.create(
      withSim({ model: 'llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'log me' }] }, { key, status: 500, fail_first: 1 }),
    );
    await until(() => requestLogs(stack).some((l) => l.reqId === completion._request_id));
    const lines = requestLogs(stack).filter((l) => l.reqId === completion._request_id);
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.level, 'info');
    assert.equal(line.provider, 'fireworks');
    assert.equal(line.model, MODEL);
    assert.equal(line.status, 200);
    assert.equal(line.retries, 1);
    assert.equal(line.stream, false);
    assert.equal(line.promptTokens, completion.usage!.prompt_tokens);
    assert.equal(line.completionTokens, completion.usage!.completion_tokens);
    for (const field of ['durationMs', 'ttfbMs', 'overheadMs']) assert.equal(typeof line[field], 'number', field);
    // Upstream attempts are logged at debug.
    const attempts = stack.logs.filter((l) => l.reqId === completion._request_id && l.msg === 'upstream attempt');
    assert.equal(attempts.length, 2);
    assert.ok(attempts.every((l) => l.level === 'debug'));
  });

  test('keys never appear in the log output at debug', async () => {
    const client = stack.client();
    await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'a' }] });
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'b' }], stream: true });
    for await (const _chunk of stream);
    await stack.client({ apiKey: SERVER_KEY_PLACEHOLDER }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'c' }] });
    await assert.rejects(stack.client({ apiKey: OTHER_KEY }).chat.completions.create({ model: MODEL, messages: [] }), OpenAI.AuthenticationError);
    await assert.rejects(
      client.chat.completions.create(
        withSim({ model: MODEL, messages: [] }, { key: uniqueKey('leak'), status: 401, error_message: `Invalid key ${KEY}` }),
      ),
      (err: unknown) => err instanceof OpenAI.AuthenticationError && !err.message.includes(KEY),
    );
    await assert.rejects(
      client.chat.completions.create(withSim({ model: MODEL, messages: [] }, { key: uniqueKey('leak5'), status: 503, error_message: `bad ${SERVER_KEY}` })),
    );
    await fetch(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, cookie: `token=${KEY}` },
      body: '{not json',
    });
    await until(() => requestLogs(stack).length >= 8);

    const output = stack.rawLogs.join('\n');
    assert.ok(stack.logs.some((l) => l.level === 'debug'), 'debug lines were written');
    for (const secret of [KEY, SERVER_KEY, OTHER_KEY]) assert.ok(!output.includes(secret), `${secret.slice(0, 6)}... leaked`);
    assert.ok(!/Bearer\s+(?!\[REDACTED\])/.test(output), 'no bearer credential in the logs');
  });
});
