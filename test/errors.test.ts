// Every failure is an OpenAI-shaped error with the right status, so the SDK raises the right class;
// bad input gets a clear 4xx naming the parameter.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import OpenAI, { APIError, BadRequestError } from 'openai';
import { normaliseProviderError } from '../src/errors.js';
import { KEY, MODEL, startStack, uniqueKey, withSim, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

const chat = (content = 'hi') => ({ model: MODEL, messages: [{ role: 'user' as const, content }] });

interface ErrorJson {
  error: { message: string; type: string; code: string | null; param: string | null };
}

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(text) as ErrorJson };
}

function assertErrorShape(json: ErrorJson): void {
  assert.deepEqual(Object.keys(json), ['error']);
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof json.error.message, 'string');
  assert.ok(json.error.message.length > 0);
}

describe('provider errors reach the SDK as its error classes', () => {
  const cases: [number, abstract new (...args: never[]) => Error][] = [
    [400, OpenAI.BadRequestError],
    [401, OpenAI.AuthenticationError],
    [402, OpenAI.APIError],
    [403, OpenAI.PermissionDeniedError],
    [404, OpenAI.NotFoundError],
    [412, OpenAI.APIError],
    [413, OpenAI.APIError],
    [429, OpenAI.RateLimitError],
    [500, OpenAI.InternalServerError],
    [502, OpenAI.InternalServerError],
    [503, OpenAI.InternalServerError],
    [504, OpenAI.InternalServerError],
  ];
  for (const [status, errorClass] of cases) {
    test(`${status} -> ${errorClass.name}`, async () => {
      const key = uniqueKey(`status-${status}`);
      const message = `simulated failure ${status}`;
      await assert.rejects(
        stack.client().chat.completions.create(withSim(chat(), { key, status, error_message: message })),
        (err: unknown) => {
          assert.ok(err instanceof errorClass, `got ${(err as Error).constructor.name}`);
          assert.equal((err as APIError).status, status);
          assert.match((err as Error).message, new RegExp(message));
          return true;
        },
      );
    });
  }

  test('a real authentication failure from Fireworks (bad key) is a 401 AuthenticationError', async () => {
    await assert.rejects(stack.client({ apiKey: 'not-a-fireworks-key' }).chat.completions.create(chat()), OpenAI.AuthenticationError);
  });

  for (const shape of ['error', 'fault', 'detail', 'text'] as const) {
    test(`the "${shape}" error body shape is normalised, status and message kept`, async () => {
      const message = `shape ${shape} message`;
      const res = await post(
        '/v1/chat/completions',
        JSON.stringify(withSim(chat(), { key: uniqueKey(shape), status: 403, error_shape: shape, error_message: message })),
      );
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assertErrorShape(res.json);
      assert.match(res.json.error.message, new RegExp(message));
      // Shapes without a type of their own get the OpenAI type for the status.
      if (shape !== 'error') assert.equal(res.json.error.type, 'permission_error');
    });
  }
});

describe('bad input gets a clear 4xx', () => {
  test('malformed JSON is a 400', async () => {
    const res = await post('/v1/chat/completions', '{"model": "x", ');
    assert.equal(res.status, 400);
    assertErrorShape(res.json);
    assert.equal(res.json.error.code, 'invalid_json');
  });

  test('a body that is not an object is a 400', async () => {
    const res = await post('/v1/chat/completions', '[1,2]');
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, 'invalid_json');
  });

  const missing: [string, string, unknown, string][] = [
    ['/v1/chat/completions', 'missing model', { messages: [] }, 'model'],
    ['/v1/chat/completions', 'non-string model', { model: 42, messages: [] }, 'model'],
    ['/v1/chat/completions', 'missing messages', { model: MODEL }, 'messages'],
    ['/v1/chat/completions', 'messages not a list', { model: MODEL, messages: 'hi' }, 'messages'],
    ['/v1/completions', 'missing prompt', { model: MODEL }, 'prompt'],
    ['/v1/embeddings', 'missing input', { model: MODEL }, 'input'],
  ];
  for (const [path, name, body, param] of missing) {
    test(`${path}: ${name} is a 400 naming "${param}"`, async () => {
      const res = await post(path, JSON.stringify(body));
      assert.equal(res.status, 400);
      assertErrorShape(res.json);
      assert.equal(res.json.error.param, param);
      assert.equal(res.json.error.type, 'invalid_request_error');
    });
  }

  test('the SDK sees a missing parameter as BadRequestError', async () => {
    await assert.rejects(
      stack.client().chat.completions.create({ model: MODEL } as never),
      (err: unknown) => err instanceof OpenAI.BadRequestError && (err as BadRequestError).param === 'messages',
    );
  });

  test('wrong method is a 405 with Allow', async () => {
    const res = await fetch(`${stack.origin}/v1/chat/completions`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    assertErrorShape((await res.json()) as ErrorJson);
  });

  test('unknown route outside /v1 is a 404', async () => {
    const res = await fetch(`${stack.origin}/nope`);
    assert.equal(res.status, 404);
    assertErrorShape((await res.json()) as ErrorJson);
  });

  test('non-JSON content type is a 415', async () => {
    const res = await post('/v1/chat/completions', 'model=x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(res.status, 415);
    assertErrorShape(res.json);
  });

  test('unknown provider is a 400 naming it and the known ones', async () => {
    const res = await post('/v1/chat/completions', JSON.stringify(chat()), { 'x-provider': 'nosuch' });
    assert.equal(res.status, 400);
    assert.match(res.json.error.message, /nosuch/);
    assert.match(res.json.error.message, /fireworks/);
    assert.equal(res.json.error.param, 'x-provider');
  });

  test('a per-request override that is not an integer is a 400 naming the header', async () => {
    const res = await post('/v1/chat/completions', JSON.stringify(chat()), { 'x-gateway-timeout-ms': 'soon' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.param, 'x-gateway-timeout-ms');
  });

  test('a body over MAX_BODY_BYTES is a 413 before the body is read', async () => {
    const small = await startStack({ MAX_BODY_BYTES: '1024' });
    try {
      const { port } = small.gateway.server.address() as { port: number };
      // Declare 50 MB but send only 1 KB: the answer must come without the rest being sent.
      const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/chat/completions',
            headers: { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) },
          },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.write(Buffer.alloc(1024, 32));
      });
      assert.equal(result.status, 413);
      assertErrorShape(JSON.parse(result.body) as ErrorJson);

      // A body without content-length that grows past the limit is refused too.
      const chunked = await fetch(`${small.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(`{"model":"${'x'.repeat(4096)}"}`));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      assert.equal(chunked.status, 413);
    } finally {
      await small.close();
    }
  });

  test('an unreachable provider is a 502 after the retries', async () => {
    const dead = await startStack({ FIREWORKS_BASE_URL: 'http://127.0.0.1:9/inference/v1' });
    try {
      await assert.rejects(dead.client().chat.completions.create(chat()), (err: unknown) => {
        assert.ok(err instanceof OpenAI.InternalServerError);
        assert.equal((err as APIError).status, 502);
        assert.equal((err as APIError).code, 'upstream_unreachable');
        return true;
      });
    } finally {
      await dead.close();
    }
  });
});

describe('normaliseProviderError', () => {
  test('OpenAI/Fireworks {"error":{...}} keeps message, type and code', () => {
    const body = JSON.stringify({ error: { object: 'error', type: 'invalid_request_error', code: 'bad', message: 'nope', param: 'x' } });
    assert.deepEqual(normaliseProviderError(400, body), { message: 'nope', type: 'invalid_request_error', code: 'bad', param: 'x' });
  });
  test('{"error":"text"} form', () => {
    assert.deepEqual(normaliseProviderError(500, '{"error":"boom"}'), { message: 'boom', type: 'server_error', code: null, param: null });
  });
  test('{"fault":{...}} from the API edge', () => {
    const body = JSON.stringify({ fault: { faultstring: 'Invalid ApiKey', detail: { errorcode: 'oauth.v2.InvalidApiKey' } } });
    assert.deepEqual(normaliseProviderError(401, body), {
      message: 'Invalid ApiKey',
      type: 'authentication_error',
      code: 'oauth.v2.InvalidApiKey',
      param: null,
    });
  });
  test('{"detail":"..."} and FastAPI detail lists', () => {
    assert.equal(normaliseProviderError(404, '{"detail":"Model not found"}').message, 'Model not found');
    const list = JSON.stringify({ detail: [{ loc: ['body', 'messages'], msg: 'field required', type: 'value_error.missing' }] });
    assert.deepEqual(normaliseProviderError(422, list), {
      message: 'messages: field required',
      type: 'invalid_request_error',
      code: null,
      param: 'messages',
    });
  });
  test('plain text and empty bodies', () => {
    assert.equal(normaliseProviderError(502, '<html>Bad Gateway</html>\n').message, '<html>Bad Gateway</html>');
    assert.match(normaliseProviderError(503, '').message, /HTTP 503/);
    assert.equal(normaliseProviderError(503, '').type, 'server_error');
  });
  test('keys echoed in a provider message are redacted', () => {
    const body = JSON.stringify({ error: { message: 'bad key fw_ABCDEF1234567890 in Bearer abc.def' } });
    const { message } = normaliseProviderError(401, body);
    assert.ok(!message.includes('fw_ABCDEF1234567890'));
    assert.ok(!message.includes('abc.def'));
  });
});
