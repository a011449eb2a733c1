// Start-up: config, logger, server, signals; nothing else. With WORKERS > 1 this process is the
// cluster primary: it forks the workers (which share the port), restarts one that dies, and on
// SIGTERM/SIGINT lets each finish its in-flight requests.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createGatewayServer } from './server.js';
import { VERSION } from './version.js';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`ai-gateway: invalid configuration: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(config.LOG_LEVEL);
const workers = config.WORKERS === 'auto' ? availableParallelism() : config.WORKERS;

if (workers > 1 && cluster.isPrimary) runPrimary(workers);
else await runServer(workers > 1);

function warnIfExposed(log: Logger): void {
  const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
  const serverKeys = Object.entries(config.providers)
    .filter(([, provider]) => provider.apiKey)
    .map(([name]) => name);
  if (!LOOPBACK.has(config.HOST) && serverKeys.length > 0) {
    log.warn(
      { host: config.HOST, providersWithServerKey: serverKeys },
      'listening beyond loopback while a server-side API key is set: anyone who can reach this port can spend that key',
    );
  }
}

async function runServer(isWorker: boolean): Promise<void> {
  const gateway = createGatewayServer(config, logger);
  if (!isWorker) warnIfExposed(logger);
  try {
    const address = await gateway.listen();
    if (isWorker) {
      process.send?.({ listening: address });
    } else {
      logger.info(
        { version: VERSION, host: address.address, port: address.port, defaultProvider: config.DEFAULT_PROVIDER },
        `ai-gateway listening on http://${address.address}:${address.port}`,
      );
      logger.flush();
    }
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'could not listen');
    process.exit(1);
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight requests');
    gateway.shutdown().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function runPrimary(count: number): void {
  warnIfExposed(logger);
  let stopping = false;
  let listening = 0;
  for (let i = 0; i < count; i++) cluster.fork();

  cluster.on('message', (_worker, message: { listening?: { address: string; port: number } }) => {
    // Announce once, when the first `count` workers are up (a restarted worker is not news).
    if (!message.listening || ++listening !== count) return;
    const { address, port } = message.listening;
    logger.info(
      { version: VERSION, host: address, port, workers: count, defaultProvider: config.DEFAULT_PROVIDER },
      `ai-gateway listening on http://${address}:${port} with ${count} workers`,
    );
    logger.flush();
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      logger.error({ worker: worker.process.pid, code, signal }, 'worker died; starting another');
      cluster.fork();
      return;
    }
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      logger.info('stopped');
      process.exit(0);
    }
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight requests');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
