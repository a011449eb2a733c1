// The gateway of bench/soak.mjs, started from dist/ as src/main.ts starts one (config, logger,
// server, price table), in a process of its own so that its memory is measured alone. Run with
// --expose-gc: the parent asks for a sample over IPC ({ sample: id }) and gets back RSS, the heap
// used after a full collection, the event-loop delay since the last sample and the open handles by
// kind ({ sampled: id, ... }). It says where it listens with { listening: port }, and stops on
// { stop: true } as main.ts stops on SIGTERM: in-flight requests first.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { loadConfig } from '../dist/src/config.js';
import { createLogger } from '../dist/src/logger.js';
import { createGatewayServer } from '../dist/src/server.js';
import { warmPriceTable } from '../dist/src/observe/prices.js';

if (typeof globalThis.gc !== 'function') {
  process.stderr.write('soak-gateway: run with node --expose-gc, for the heap after a full collection\n');
  process.exit(1);
}
if (typeof process.send !== 'function') {
  process.stderr.write('soak-gateway: start it from bench/soak.mjs, which reads its samples over IPC\n');
  process.exit(1);
}

/** The event-loop delay histogram's resolution: 10 ms is Node's default and blurs a 5 ms stall. */
const LOOP_DELAY_RESOLUTION_MS = 2;
const NS_PER_MS = 1e6;

const configIndex = process.argv.indexOf('--config');
const configFile = configIndex === -1 ? undefined : process.argv[configIndex + 1];
const config = loadConfig(process.env, { configFile });
const logger = createLogger(config.LOG_LEVEL, undefined, 'json');
const gateway = createGatewayServer(config, logger);
const address = await gateway.listen();
setImmediate(() => warmPriceTable(gateway.gateway.providers.keys(), logger));

const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
loopDelay.enable();

function sample() {
  // The delay is read before the collection, whose own pause would otherwise count as the traffic's.
  const eventLoopDelayMs = {
    p50: loopDelay.percentile(50) / NS_PER_MS,
    p99: loopDelay.percentile(99) / NS_PER_MS,
    max: loopDelay.max / NS_PER_MS,
  };
  const gcStarted = performance.now();
  globalThis.gc();
  const gcMs = performance.now() - gcStarted;
  const memory = process.memoryUsage();
  const handles = {};
  for (const kind of process.getActiveResourcesInfo()) handles[kind] = (handles[kind] ?? 0) + 1;
  // The histogram's own timer records the collection's pause when it next fires: the next window
  // starts after that, so that it holds the traffic's delays alone.
  setTimeout(() => loopDelay.reset(), LOOP_DELAY_RESOLUTION_MS * 2);
  return {
    gcMs,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
    eventLoopDelayMs,
    handles,
  };
}

process.on('message', (message) => {
  if (message.sample !== undefined) {
    process.send({ sampled: message.sample, ...sample() });
  } else if (message.stop) {
    gateway.shutdown().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`soak-gateway: shutdown failed: ${err}\n`);
        process.exit(1);
      },
    );
  }
});
// A parent that died leaves no gateway behind.
process.on('disconnect', () => process.exit(1));
process.send({ listening: address.port });
