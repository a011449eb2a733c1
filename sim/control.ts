/**
 * Steering a simulator from outside the requests it answers. A test that drives an agent cannot
 * put a `sim` field in the agent's bodies, and the gateway forwards no header the simulator could
 * read, so the fault is set on the simulator itself: a default fault for every request (the
 * `defaultFault` start option, `SIM_DEFAULT_FAULT` for `npm run sim`), and faults queued for the
 * next N requests, in process (`queueFault`) or over HTTP:
 *
 *   POST /__sim/next     {"fault": {...}, "count": 2}   the next 2 requests get the fault
 *   POST /__sim/default  {"fault": {...}}               every later request (null: none)
 *   DELETE /__sim/next                                  forget the queued faults
 *
 * A fault a request carries itself (`sim` in its body, `metadata.user_id`, ...) comes first and
 * leaves the queue as it is. Control requests are not recorded and need no key.
 */
import type { ServerResponse } from 'node:http';
import { isObject, nonNegative } from './schema-sample.js';

/** Paths under this prefix are the simulator's own, on every simulator. */
export const CONTROL_PREFIX = '/__sim/';

/** How many requests one `POST /__sim/next` may cover; a test needs a few. */
export const MAX_QUEUED_FAULTS = 10_000;

/** A simulator's fault, as each simulator types it. */
export type Fault = object;

export interface FaultSteering {
  /** The fault for a request that carries none: the next queued one, else the default. */
  take(): Fault | undefined;
  /** Queues `fault` for the next `count` requests (default 1) that carry no fault of their own. */
  queue(fault: Fault, count?: number): void;
  /** Sets or (undefined) clears the fault of every request that carries none and finds none queued. */
  setDefault(fault: Fault | undefined): void;
  /** Forgets the queued faults. */
  clearQueue(): void;
  /** Answers a control request (`path` under CONTROL_PREFIX). */
  serve(method: string, path: string, body: unknown, res: ServerResponse): void;
}

/** A run of one fault over several requests, so that a count of thousands is one entry. */
interface Run {
  fault: Fault;
  left: number;
}

export function createFaultSteering(defaultFault?: Fault): FaultSteering {
  const runs: Run[] = [];
  let fallback = defaultFault;

  function reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(text))]);
    res.end(text);
  }

  function queued(): number {
    let n = 0;
    for (const run of runs) n += run.left;
    return n;
  }

  const steering: FaultSteering = {
    take() {
      const run = runs[0];
      if (run === undefined) return fallback;
      if (--run.left === 0) runs.shift();
      return run.fault;
    },
    queue(fault, count = 1) {
      if (count > 0) runs.push({ fault, left: Math.min(count, MAX_QUEUED_FAULTS) });
    },
    setDefault(fault) {
      fallback = fault;
    },
    clearQueue() {
      runs.length = 0;
    },
    serve(method, path, body, res) {
      const name = path.slice(CONTROL_PREFIX.length);
      if (name === 'next' && method === 'DELETE') {
        runs.length = 0;
        return reply(res, 200, { queued: 0 });
      }
      if ((name !== 'next' && name !== 'default') || method !== 'POST') {
        return reply(res, 404, { error: `No simulator control at ${method} ${path}; use POST ${CONTROL_PREFIX}next, POST ${CONTROL_PREFIX}default or DELETE ${CONTROL_PREFIX}next` });
      }
      if (!isObject(body)) return reply(res, 400, { error: 'The body must be a JSON object: {"fault": {...}}' });
      const fault = body.fault;
      if (name === 'default') {
        if (fault !== null && !isObject(fault)) return reply(res, 400, { error: '"fault" must be an object, or null for none' });
        fallback = fault ?? undefined;
        return reply(res, 200, { default: fallback ?? null });
      }
      if (!isObject(fault)) return reply(res, 400, { error: '"fault" must be an object' });
      const count = body.count === undefined ? 1 : nonNegative(body.count);
      if (count === undefined || count < 1 || count > MAX_QUEUED_FAULTS) {
        return reply(res, 400, { error: `"count" must be an integer from 1 to ${MAX_QUEUED_FAULTS}` });
      }
      steering.queue(fault, count);
      return reply(res, 200, { queued: queued() });
    },
  };
  return steering;
}

/**
 * The tool a simulated model calls: the first of `names` (a fault's `call_tool`) that the request
 * offers, else the first tool offered. `tools` is not empty.
 */
export function toolToCall<T extends object>(tools: readonly T[], names: unknown): T {
  const wanted = typeof names === 'string' ? [names] : Array.isArray(names) ? names : [];
  for (const name of wanted) {
    const tool = tools.find((candidate) => (candidate as { name?: unknown }).name === name);
    if (tool !== undefined) return tool;
  }
  return tools[0]!;
}
