// The gateway is a drop-in base URL for the official openai package: every endpoint behaves as
// if the SDK called Fireworks directly.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KEY, MODEL, requestLogs, startStack, until, withSim, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

/** The same request sent straight to the simulator, for byte-level comparison. */
async function direct(path: string, body: unknown): Promise<Response> {
  return fetch(`${stack.sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
}

describe('chat completions', () => {
  test('non-streaming chat returns the provider answer unchanged', async () => {
    const params = { model: MODEL, messages: [{ role: 'user' as const, content: 'Say hello in three words' }] };
    const completion = await stack.client().chat.completions.create(params);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, MODEL);
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0]!.message.role, 'assistant');
    assert.equal(typeof completion.choices[0]!.message.content, 'string');
    assert.ok(completion.choices[0]!.message.content!.length > 0);
    assert.ok(completion.usage!.prompt_tokens > 0);
    assert.equal(completion.usage!.total_tokens, completion.usage!.prompt_tokens + completion.usage!.completion_tokens);

    const expected = (await (await direct('/chat/completions', params)).json()) as typeof completion;
    assert.deepEqual(completion.choices, expected.choices);
    assert.deepEqual(completion.usage, expected.usage);
  });

  test('non-ASCII answers arrive byte for byte, small and large', async () => {
    for (const content of ['Grüße, 世界 🌍 — ½', `${'ünïcødé ✓ '.repeat(3_000)}🌍`]) {
      const body = withSim({ model: MODEL, messages: [{ role: 'user', content: 'unicode' }] }, { content });
      const viaGateway = await fetch(`${stack.baseURL}chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: JSON.stringify(body),
      });
      const bytes = Buffer.from(await viaGateway.arrayBuffer());
      const expected = Buffer.from(await (await direct('/chat/completions', body)).arrayBuffer());
      assert.equal(viaGateway.headers.get('content-length'), String(expected.length));
      // The simulator stamps each answer with its own id and time; all else must be identical.
      const strip = (b: Buffer) => b.toString('utf8').replace(/"id":"[^"]*"|"created":\d+/g, '');
      assert.equal(strip(bytes), strip(expected));
      const parsed = JSON.parse(bytes.toString('utf8')) as { choices: { message: { content: string } }[] };
      assert.equal(parsed.choices[0]!.message.content, content);
    }
  });

  test('streaming chat delivers every chunk, usage in the last, and the SDK ends cleanly', async () => {
    const stream = await stack.client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Count to five' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 3, `expected several chunks, got ${chunks.length}`);
    assert.equal(chunks[0]!.object, 'chat.completion.chunk');
    assert.equal(chunks[0]!.choices[0]?.delta.role, 'assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    assert.ok(text.length > 0);
    const usage = chunks.at(-1)!.usage!;
    assert.ok(usage.completion_tokens > 0);
    assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'stop'));

    // The gateway observed usage and first byte as the stream passed.
    await until(() => requestLogs(stack).some((l) => l.stream === true && l.completionTokens === usage.completion_tokens));
    const line = requestLogs(stack).find((l) => l.stream === true && l.completionTokens === usage.completion_tokens)!;
    assert.equal(line.promptTokens, usage.prompt_tokens);
    assert.equal(typeof line.ttfbMs, 'number');
  });

  test('streamed bytes are exactly the provider bytes', async () => {
    const body = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true };
    const viaGateway = await fetch(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify(body),
    });
    assert.equal(viaGateway.headers.get('content-type')?.startsWith('text/event-stream'), true);
    assert.equal(viaGateway.headers.get('content-encoding'), null);
    const gatewayText = await viaGateway.text();
    const directText = await (await direct('/chat/completions', body)).text();
    const normalise = (s: string) => s.replace(/"id":"[^"]*"/g, '"id":""').replace(/"created":\d+/g, '"created":0');
    assert.equal(normalise(gatewayText), normalise(directText));
    assert.ok(gatewayText.endsWith('data: [DONE]\n\n'));
  });

  test('tools: the tool call comes back as the SDK expects', async () => {
    const completion = await stack.client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ],
    });
    const call = completion.choices[0]!.message.tool_calls?.[0];
    assert.ok(call, 'expected a tool call');
    assert.equal(call.type, 'function');
    assert.equal(call.type === 'function' && call.function.name, 'get_weather');
    assert.equal(completion.choices[0]!.finish_reason, 'tool_calls');
  });

  test('JSON mode returns parseable JSON content', async () => {
    const completion = await stack.client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Give me a JSON object' }],
      response_format: { type: 'json_object' },
    });
    const content = completion.choices[0]!.message.content!;
    assert.equal(typeof JSON.parse(content), 'object');
  });

  test('fields the gateway does not know reach Fireworks untouched', async () => {
    const extra = {
      top_k: 40,
      repetition_penalty: 1.1,
      min_p: 0.05,
      prompt_truncate_len: 1500,
      context_length_exceeded_behavior: 'truncate',
      response_format: { type: 'grammar', grammar: 'root ::= "yes" | "no"' },
      perf_metrics_in_response: true,
      nested: { deep: [1, 2.5, '3', null, { x: true }] },
    };
    const marker = `unknown-fields-${Date.now()}`;
    await stack.client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: marker }],
      ...(extra as object),
    });
    const seen = stack.sim.requests.find((r) => JSON.stringify(r.json ?? {}).includes(marker));
    assert.ok(seen, 'the simulator saw the request');
    for (const [name, value] of Object.entries(extra)) assert.deepEqual(seen.json[name], value, name);
  });

  test('a short model name is expanded to accounts/fireworks/models/<name>', async () => {
    const completion = await stack.client().chat.completions.create({
      model: 'llama-v3p1-8b-instruct',
      messages: [{ role: 'user', content: 'short-name-check' }],
    });
    assert.equal(completion.model, MODEL);
    const seen = stack.sim.requests.find((r) => JSON.stringify(r.json ?? {}).includes('short-name-check'));
    assert.equal(seen?.json.model, MODEL);
  });

  test('a full resource name of a fine-tune is passed as is', async () => {
    const model = 'accounts/my-team/models/my-fine-tune';
    const completion = await stack.client().chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'fine-tune' }],
    });
    assert.equal(completion.model, model);
  });
});

describe('completions, embeddings, models', () => {
  test('legacy completions, non-streaming and streaming', async () => {
    const client = stack.client();
    const completion = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 16 });
    assert.equal(completion.object, 'text_completion');
    assert.ok(completion.choices[0]!.text.length > 0);
    assert.ok(completion.usage!.total_tokens > 0);

    const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.ok(text.length > 0);
  });

  test('embeddings decode through the SDK (base64 by default) and as floats', async () => {
    const client = stack.client();
    const model = 'nomic-ai/nomic-embed-text-v1.5';
    const result = await client.embeddings.create({ model, input: ['first text', 'second text'] });
    assert.equal(result.data.length, 2);
    assert.equal(result.data[0]!.embedding.length, 768);
    assert.ok(result.data[0]!.embedding.every((v) => Number.isFinite(v)));
    assert.notDeepEqual(result.data[0]!.embedding, result.data[1]!.embedding);

    const floats = await client.embeddings.create({ model, input: 'first text', encoding_format: 'float' });
    assert.equal(floats.data[0]!.embedding.length, 768);
    for (let i = 0; i < 768; i++) {
      assert.ok(Math.abs(floats.data[0]!.embedding[i]! - result.data[0]!.embedding[i]!) < 1e-6);
    }
  });

  test('model list', async () => {
    const ids: string[] = [];
    for await (const model of stack.client().models.list()) ids.push(model.id);
    assert.ok(ids.includes(MODEL));
  });
});
