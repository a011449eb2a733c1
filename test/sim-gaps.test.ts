// The simulators behave as the real APIs do where an agent depends on it: Anthropic's
// `context_management` with its beta header (Claude Code's first call was a 400 and a resend),
// `output_config.format` (native structured output), tool arguments a model would write (required
// properties only, flags off: `run_in_background: true` sent Claude Code round a loop of 1,622
// requests), and a way to steer a simulator for a client whose bodies a test cannot change.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic, { BadRequestError, InternalServerError } from '@anthropic-ai/sdk';
import { jsonSchemaOutputFormat } from '@anthropic-ai/sdk/helpers/json-schema';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import OpenAI from 'openai';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { startBedrockSim } from '../sim/bedrock.js';
import { SIM_API_KEY, startFireworksSim, type SimHandle } from '../sim/fireworks.js';
import { simApiKey, startOpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { startGateway } from './helpers.js';
import { bedrockClient } from './bedrock-client.js';

const MODEL = 'claude-haiku-4-5';
let sim: AnthropicSim;
let gateway: GatewayServer;
let gatewayOrigin: string;

before(async () => {
  sim = await startAnthropicSim({ port: 0 });
  const started = await startGateway({ ANTHROPIC_BASE_URL: sim.url, ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY });
  gateway = started.server;
  gatewayOrigin = started.url.slice(0, -'/v1'.length);
});
after(async () => {
  await gateway.shutdown(0);
  await sim.close();
});

/** The Anthropic SDK on the simulator itself, or (`viaGateway`) on the gateway's native route to it. */
function anthropic(viaGateway = false): Anthropic {
  return viaGateway
    ? new Anthropic({ baseURL: gatewayOrigin, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'anthropic' }, maxRetries: 0 })
    : new Anthropic({ baseURL: sim.url, apiKey: ANTHROPIC_SIM_API_KEY, maxRetries: 0 });
}

const HELLO: Anthropic.MessageParam[] = [{ role: 'user', content: 'Hello' }];
// The beta header of context editing: https://platform.claude.com/docs/en/build-with-claude/context-editing
const CONTEXT_MANAGEMENT_BETA = 'context-management-2025-06-27';
// What Claude Code sends on its first call.
const CONTEXT_MANAGEMENT: Anthropic.Beta.BetaContextManagementConfig = { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] };

describe('context_management', () => {
  for (const viaGateway of [false, true]) {
    test(`with the ${CONTEXT_MANAGEMENT_BETA} beta header it is accepted, and the answer says no edit applied${viaGateway ? ' (through the gateway)' : ''}`, async () => {
      const client = anthropic(viaGateway);
      const params = {
        model: MODEL,
        max_tokens: 2048,
        messages: HELLO,
        thinking: { type: 'enabled' as const, budget_tokens: 1024 },
        betas: [CONTEXT_MANAGEMENT_BETA],
        context_management: CONTEXT_MANAGEMENT,
      };
      const message = await client.beta.messages.create(params);
      assert.equal(message.stop_reason, 'end_turn');
      assert.deepEqual(message.context_management, { applied_edits: [] });

      const streamed = await client.beta.messages.stream(params).finalMessage();
      assert.deepEqual(streamed.context_management, { applied_edits: [] });
      assert.equal(streamed.content.at(-1)!.type, 'text');

      const counted = await client.beta.messages.countTokens({ model: MODEL, messages: HELLO, betas: [CONTEXT_MANAGEMENT_BETA], context_management: CONTEXT_MANAGEMENT });
      assert.deepEqual(counted.context_management, { original_input_tokens: counted.input_tokens });
      const seen = sim.requests.at(-1)!;
      assert.match(String(seen.headers['anthropic-beta']), new RegExp(CONTEXT_MANAGEMENT_BETA));
    });
  }

  test('without the beta header it is refused, as any unknown field; a malformed edit is refused with the header', async () => {
    const client = anthropic();
    const create = client.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO, context_management: CONTEXT_MANAGEMENT } as Anthropic.MessageCreateParamsNonStreaming);
    await assert.rejects(create, (err: unknown) => err instanceof BadRequestError && /context_management: Extra inputs are not permitted/.test(err.message));
    const bad = client.beta.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: HELLO,
      betas: [CONTEXT_MANAGEMENT_BETA],
      context_management: { edits: [{ type: 'clear_everything' }] } as unknown as Anthropic.Beta.BetaContextManagementConfig,
    });
    await assert.rejects(bad, (err: unknown) => err instanceof BadRequestError && /context_management\.edits\.0: Input tag 'clear_everything'/.test(err.message));
  });
});

describe('output_config.format', () => {
  const schema = {
    type: 'object',
    properties: {
      city: { type: 'string' },
      days: { type: 'integer' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      rain: { type: 'boolean' },
      hours: { type: 'array', items: { type: 'integer' } },
    },
    required: ['city', 'days', 'unit', 'rain', 'hours'],
    additionalProperties: false,
  } as const;
  // An answer fills every property, as a model asked for a document does.
  const expected = { city: 'sim', days: 1, unit: 'celsius', rain: true, hours: [1] };

  for (const viaGateway of [false, true]) {
    test(`the answer's text is a JSON document matching the schema, plain, streamed and parsed by the SDK${viaGateway ? ' (through the gateway)' : ''}`, async () => {
      const client = anthropic(viaGateway);
      const params = { model: MODEL, max_tokens: 256, messages: HELLO, output_config: { format: { type: 'json_schema' as const, schema } } };
      const message = await client.messages.create(params);
      assert.equal(message.content.length, 1);
      assert.deepEqual(JSON.parse((message.content[0] as Anthropic.TextBlock).text), expected);

      const streamed = await client.messages.stream({ ...params, sim: { chunks: 5 } } as typeof params).finalMessage();
      assert.deepEqual(JSON.parse((streamed.content[0] as Anthropic.TextBlock).text), expected);

      const parsed = await client.messages.parse({ model: MODEL, max_tokens: 256, messages: HELLO, output_config: { format: jsonSchemaOutputFormat(schema) } });
      assert.deepEqual(parsed.parsed_output, expected);
    });
  }

  test('after a tool round the answer is still the JSON document; a format that is not json_schema is refused', async () => {
    const client = anthropic();
    const tool: Anthropic.Tool = { name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } };
    const format = { type: 'json_schema' as const, schema };
    const first = await client.messages.create({ model: MODEL, max_tokens: 256, messages: HELLO, tools: [tool], output_config: { format } });
    const call = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')!;
    const second = await client.messages.create({
      model: MODEL,
      max_tokens: 256,
      tools: [tool],
      output_config: { format },
      messages: [...HELLO, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny' }] }],
    });
    assert.deepEqual(JSON.parse((second.content[0] as Anthropic.TextBlock).text), expected);

    const wrong = client.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO, output_config: { format: { type: 'text' } } } as unknown as Anthropic.MessageCreateParamsNonStreaming);
    await assert.rejects(wrong, (err: unknown) => err instanceof BadRequestError && /output_config\.format\.type: Input should be 'json_schema'/.test(err.message));
  });
});

// Claude Code's Bash tool, as its tool list declares it.
const BASH_SCHEMA = {
  type: 'object',
  properties: {
    command: { type: 'string', description: 'The command to execute' },
    timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' },
    description: { type: 'string', description: 'Clear, concise description of what this command does' },
    run_in_background: { type: 'boolean', description: 'Set to true to run this command in the background.' },
    dangerouslyDisableSandbox: { type: 'boolean', description: 'Set this to true to dangerously override sandbox mode.' },
  },
  required: ['command'],
  additionalProperties: false,
};
// A tool whose flags are required: they are sent, and off.
const FLAGS_SCHEMA = {
  type: 'object',
  properties: { path: { type: 'string' }, recursive: { type: 'boolean' }, limit: { type: 'integer', minimum: 1 }, globs: { type: 'array', items: { type: 'string' } }, note: { type: 'string' } },
  required: ['path', 'recursive', 'limit', 'globs'],
};

describe('tool arguments: required properties only, flags off, on every simulator', () => {
  const cases = async (call: (name: string, schema: object) => Promise<unknown>): Promise<void> => {
    assert.deepEqual(await call('Bash', BASH_SCHEMA), { command: 'sim' });
    assert.deepEqual(await call('List', FLAGS_SCHEMA), { path: 'sim', recursive: false, limit: 1, globs: [] });
  };

  test('Anthropic', async () => {
    await cases(async (name, schema) => {
      const message = await anthropic().messages.create({ model: MODEL, max_tokens: 256, messages: HELLO, tools: [{ name, input_schema: schema as Anthropic.Tool.InputSchema }] });
      return (message.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock).input;
    });
  });

  const openAIShaped = async (start: () => Promise<SimHandle>, apiKey: string, model: string): Promise<void> => {
    const openaiSim = await start();
    try {
      const client = new OpenAI({ baseURL: openaiSim.url, apiKey, maxRetries: 0 });
      await cases(async (name, parameters) => {
        const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], tools: [{ type: 'function', function: { name, parameters: parameters as Record<string, unknown> } }] });
        const toolCall = completion.choices[0]!.message.tool_calls![0]!;
        return JSON.parse(toolCall.type === 'function' ? toolCall.function.arguments : '{}');
      });
    } finally {
      await openaiSim.close();
    }
  };

  test('Fireworks', () => openAIShaped(() => startFireworksSim({ port: 0 }), SIM_API_KEY, 'accounts/fireworks/models/llama-v3p1-8b-instruct'));
  test('OpenAI-compatible (openai flavour)', () => openAIShaped(() => startOpenAICompatibleSim({ port: 0, flavour: 'openai' }), simApiKey('openai'), 'gpt-4o-mini'));

  test('Bedrock', async () => {
    const bedrock = await startBedrockSim({ port: 0 });
    const client = bedrockClient(bedrock.url);
    try {
      await cases(async (name, schema) => {
        const out = await client.send(new ConverseCommand({
          modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0',
          messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
          toolConfig: { tools: [{ toolSpec: { name, inputSchema: { json: schema as never } } }] },
        }));
        return out.output!.message!.content!.find((b) => b.toolUse)!.toolUse!.input;
      });
    } finally {
      client.destroy();
      await bedrock.close();
    }
  });
});

describe('steering a simulator from outside the requests', () => {
  test('POST /__sim/next: the next N requests without a fault of their own get it; control requests are not recorded', async () => {
    const from = sim.requests.length;
    const control = await fetch(`${sim.origin}/__sim/next`, { method: 'POST', body: JSON.stringify({ fault: { status: 529 }, count: 2 }) });
    assert.equal(control.status, 200);
    assert.deepEqual(await control.json(), { queued: 2 });
    const client = anthropic();
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO }), (err: unknown) => err instanceof InternalServerError && err.status === 529);
    }
    const ok = await client.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO });
    assert.equal(ok.stop_reason, 'end_turn');
    assert.equal(sim.requests.length - from, 3, 'the control request is not one of them');

    // A fault in the body comes first and leaves the queue as it is.
    sim.queueFault({ content: 'from the queue' });
    const own = await client.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO, sim: { content: 'my own' } } as Anthropic.MessageCreateParamsNonStreaming);
    assert.equal((own.content[0] as Anthropic.TextBlock).text, 'my own');
    const queued = await client.messages.create({ model: MODEL, max_tokens: 64, messages: HELLO });
    assert.equal((queued.content[0] as Anthropic.TextBlock).text, 'from the queue');

    const refused = await fetch(`${sim.origin}/__sim/next`, { method: 'POST', body: JSON.stringify({ fault: 'status 529' }) });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: string }).error, /"fault" must be an object/);
  });

  test('a default fault (start option, or POST /__sim/default) reaches a request made through the gateway whose body the test does not write', async () => {
    const steered = await startAnthropicSim({ port: 0, defaultFault: { content: 'steered by default', thinking: true } });
    const { server, url } = await startGateway({ ANTHROPIC_BASE_URL: steered.url, ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY });
    try {
      // An agent's plain OpenAI-shaped request, translated by the gateway: no sim field anywhere.
      const client = new OpenAI({ baseURL: url, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'anthropic' }, maxRetries: 0 });
      const first = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(first.choices[0]!.message.content, 'steered by default');

      const changed = await fetch(`${steered.origin}/__sim/default`, { method: 'POST', body: JSON.stringify({ fault: { status: 529, fail_first: 1, key: 'once' } }) });
      assert.deepEqual(await changed.json(), { default: { status: 529, fail_first: 1, key: 'once' } });
      // The gateway retries the 529; the second attempt of the key succeeds.
      const retried = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(retried.choices[0]!.finish_reason, 'stop');
      assert.deepEqual(steered.requestsFor('once').map((r) => r.attempt), [1, 2]);

      await fetch(`${steered.origin}/__sim/default`, { method: 'POST', body: JSON.stringify({ fault: null }) });
      const plain = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(plain.choices[0]!.message.content, 'Hello from the Anthropic simulator.');
    } finally {
      await server.shutdown(0);
      await steered.close();
    }
  });
});

describe('call_tool: which of the offered tools the simulated model calls', () => {
  // An agent offers many tools; one that launches subagents first made a simulated model that calls
  // the first tool fan out without end. Each simulator calls the first offered tool `call_tool` names.
  const TOOLS = ['Agent', 'Bash', 'Read'];
  const called = async (sim: SimHandle, ask: () => Promise<string>, fault: object | null): Promise<string> => {
    await fetch(`${sim.origin}/__sim/default`, { method: 'POST', body: JSON.stringify({ fault }) });
    return ask();
  };
  const expectations = async (sim: SimHandle, ask: () => Promise<string>): Promise<void> => {
    assert.equal(await called(sim, ask, null), 'Agent', 'the first tool without call_tool');
    assert.equal(await called(sim, ask, { call_tool: 'Read' }), 'Read');
    assert.equal(await called(sim, ask, { call_tool: ['Glob', 'Bash', 'Read'] }), 'Bash', 'the first named tool that is offered');
    assert.equal(await called(sim, ask, { call_tool: ['Glob'] }), 'Agent', 'none offered: the first tool');
  };

  test('Fireworks (chat completions)', async () => {
    const sim = await startFireworksSim({ port: 0 });
    try {
      const client = new OpenAI({ baseURL: sim.url, apiKey: SIM_API_KEY, maxRetries: 0 });
      await expectations(sim, async () => {
        const completion = await client.chat.completions.create({
          model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
          messages: [{ role: 'user', content: 'Hi' }],
          tools: TOOLS.map((name) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: {} } } })),
        });
        const call = completion.choices[0]!.message.tool_calls![0]!;
        return call.type === 'function' ? call.function.name : '';
      });
    } finally {
      await sim.close();
    }
  });

  test('Anthropic', async () => {
    const sim = await startAnthropicSim({ port: 0 });
    try {
      const client = new Anthropic({ baseURL: sim.url.replace(/\/v1$/, ''), apiKey: ANTHROPIC_SIM_API_KEY, maxRetries: 0 });
      await expectations(sim, async () => {
        const message = await client.messages.create({
          model: MODEL,
          max_tokens: 256,
          messages: HELLO,
          tools: TOOLS.map((name) => ({ name, input_schema: { type: 'object' as const, properties: {} } })),
        });
        return (message.content.find((block) => block.type === 'tool_use') as Anthropic.ToolUseBlock).name;
      });
    } finally {
      await sim.close();
    }
  });

  test('Bedrock', async () => {
    const sim = await startBedrockSim({ port: 0 });
    const client = bedrockClient(sim.url);
    try {
      await expectations(sim, async () => {
        const out = await client.send(new ConverseCommand({
          modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0',
          messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
          toolConfig: { tools: TOOLS.map((name) => ({ toolSpec: { name, inputSchema: { json: { type: 'object', properties: {} } as never } } })) },
        }));
        return out.output!.message!.content!.find((block) => block.toolUse)!.toolUse!.name!;
      });
    } finally {
      client.destroy();
      await sim.close();
    }
  });
});
