#!/usr/bin/env node
// Start-up: command line, config, logger, server, signals; nothing else. With WORKERS > 1 this
// process is the cluster primary: it forks the workers (which share the port), restarts one that
// dies, and on SIGTERM/SIGINT lets each finish its in-flight requests.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { parseCommand, usage } from './cli.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { serveClusterScrapes } from './observe/cluster-metrics.js';
import { startTelemetry } from './observe/telemetry.js';
import { createGatewayServer } from './server.js';
import { providerSummary, startupText } from './startup-summary.js';
import { warmPriceTable } from './observe/prices.js';
import { VERSION } from './version.js';

/** Exit codes: 0 after a clean stop, 1 for invalid settings or no address to listen on, 2 for a bad command line. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
/** The environment variable through which a cluster primary names its workers' shared gateway id. */
const INSTANCE_ENV = 'AI_GATEWAY_INSTANCE_ID';

/** Why a listen failed, for the codes a user can act on. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use (EADDRINUSE)',
  EACCES: 'permission denied (EACCES)',
  EADDRNOTAVAIL: 'address not available on this machine (EADDRNOTAVAIL)',
  ENOTFOUND: 'no such host (ENOTFOUND)',
};

const command = parseCommand(process.argv.slice(2));
if (command.run === 'help') {
  process.stdout.write(usage());
} else if (command.run === 'version') {
  process.stdout.write(`${VERSION}\n`);
} else if (command.run === 'usage-error') {
  process.stderr.write(`ai-gateway: ${command.message}\nRun "ai-gateway --help" for usage.\n`);
  process.exitCode = EXIT_USAGE;
} else {
  const config = loadConfigOrExit(command.configFile);
  // Readable lines for a person at a terminal, JSON for whatever collects the logs.
  const pretty = config.LOG_FORMAT === 'pretty' || (config.LOG_FORMAT === 'auto' && process.stdout.isTTY === true);
  const logger = createLogger(config.LOG_LEVEL, undefined, pretty ? 'pretty' : 'json');
  const workers = config.WORKERS === 'auto' ? availableParallelism() : config.WORKERS;
  if (workers > 1 && cluster.isPrimary) runPrimary(config, logger, workers);
  else await runServer(config, logger, workers > 1, command.configFile);
}

function loadConfigOrExit(configFile: string | undefined): Config {
  try {
    return loadConfig(process.env, { configFile });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const { problems } = err;
    process.stderr.write(
      problems.length === 1
        ? `ai-gateway: invalid configuration: ${problems[0]}\n`
        : `ai-gateway: invalid configuration (${problems.length} problems):\n${problems.map((problem) => `  ${problem}\n`).join('')}`,
    );
    process.exit(EXIT_FAILURE);
  }
}

/** A listen failure as one line a user can act on. */
function listenFailure(config: Config, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = (code && LISTEN_ERRORS[code]) || (err as Error).message;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `ai-gateway: cannot listen on ${host}:${config.PORT}: ${reason}; set PORT or HOST\n`;
}

/**
 * Says the gateway listens: a few lines for a person when stdout is a terminal, else one JSON
 * record, as every other line, for whatever collects the logs.
 */
function announce(config: Config, logger: Logger, address: { address: string; port: number }, workers: number): void {
  if (process.stdout.isTTY) {
    // Lines logged before (a warning) come first.
    logger.flush();
    process.stdout.write(startupText(config, address, workers));
    return;
  }
  logger.info(
    {
      version: VERSION,
      host: address.address,
      port: address.port,
      ...(workers > 1 && { workers }),
      defaultProvider: config.DEFAULT_PROVIDER,
      providers: providerSummary(config),
    },
    `ai-gateway listening on http://${address.address}:${address.port}${workers > 1 ? ` with ${workers} workers` : ''}`,
  );
  logger.flush();
}

function warnIfExposed(config: Config, log: Logger): void {
  const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
  const serverKeys = Object.entries(config.providers)
    .filter(([, provider]) => provider.apiKey)
    .map(([name]) => name);
  // Gateway keys stand between the port and the server keys: then there is nothing to warn of.
  if (!LOOPBACK.has(config.HOST) && serverKeys.length > 0 && config.gatewayKeys.length === 0) {
    log.warn(
      { host: config.HOST, providersWithServerKey: serverKeys },
      'listening beyond loopback while a server-side API key is set and no gateway keys are configured: anyone who can reach this port can spend that key',
    );
  }
}

interface WorkerMessage {
  listening?: { address: string; port: number };
  /** The line to print when the worker could not listen; the primary prints it and exits. */
  listenFailed?: string;
}

async function runServer(config: Config, logger: Logger, isWorker: boolean, configFile: string | undefined): Promise<void> {
  // Loaded only when an OTLP endpoint is set; the gateway's shutdown sends what is pending.
  const telemetry = await startTelemetry(config, logger);
  // Workers of one cluster share one name in via headers (see Gateway), handed down by the primary.
  const gateway = createGatewayServer(config, logger, { instanceId: process.env[INSTANCE_ENV] || undefined, telemetry, clusterWorker: isWorker });
  if (!isWorker) warnIfExposed(config, logger);
  try {
    const address = await gateway.listen();
    // The price table loads once the port is open, not in the first priced answer's path.
    setImmediate(() => warmPriceTable(gateway.gateway.providers.keys(), logger));
    if (isWorker) {
      process.send?.({ listening: address } satisfies WorkerMessage);
    } else {
      announce(config, logger, address, 1);
    }
  } catch (err) {
    const line = listenFailure(config, err);
    if (isWorker && process.send) {
      process.send({ listenFailed: line } satisfies WorkerMessage, () => process.exit(EXIT_FAILURE));
      return;
    }
    process.stderr.write(line);
    process.exit(EXIT_FAILURE);
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
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  // A new configuration without a restart: checked whole first, then swapped in for new requests.
  const reload = (trigger: string) => {
    let next: Config;
    try {
      next = loadConfig(process.env, { configFile });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      logger.error({ trigger, problems: err.problems }, 'configuration not reloaded: the running one stays');
      return;
    }
    const restart = gateway.reload(next);
    logger.info({ trigger, routes: next.routes.length, keys: next.gatewayKeys.length, ...(restart.length > 0 && { restartToApply: restart }) }, 'configuration reloaded');
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const path = configFile ?? (process.env.CONFIG_FILE || undefined);
  if (config.CONFIG_WATCH === 'on' && path !== undefined) watchFile(path, () => reload('file changed'), logger);
}

/** How long a changed file is left to settle (an editor writes, then renames) before it is read. */
const WATCH_SETTLE_MS = 200;

/**
 * Calls `changed` after the file at `path` changes. The directory is watched, not the file: an
 * editor or a ConfigMap update replaces the file by a rename, which ends a watch on the file itself.
 */
function watchFile(path: string, changed: () => void, logger: Logger): void {
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  try {
    watch(dirname(resolve(path)), { persistent: false }, (_event, filename) => {
      // Kubernetes swaps a ConfigMap's files through a `..data` link: any change in the directory may be it.
      if (filename !== null && filename !== name && !filename.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(changed, WATCH_SETTLE_MS);
    });
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'CONFIG_WATCH: the config file cannot be watched; reload with SIGHUP');
  }
}

function runPrimary(config: Config, logger: Logger, count: number): void {
  warnIfExposed(config, logger);
  let stopping = false;
  let failed = false;
  let listening = 0;
  const instanceEnv = { [INSTANCE_ENV]: randomBytes(6).toString('hex') };
  // A scrape, whichever worker takes it, answers the sum over all workers.
  if (config.METRICS === 'on') serveClusterScrapes(config.METRICS_WORKER_TIMEOUT_MS);
  for (let i = 0; i < count; i++) cluster.fork(instanceEnv);

  const stopWorkers = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };

  cluster.on('message', (_worker, message: WorkerMessage) => {
    if (message.listenFailed !== undefined) {
      // The port is the same for every worker: replacing one would fail the same way, forever.
      if (failed) return;
      failed = true;
      stopping = true;
      process.stderr.write(message.listenFailed);
      stopWorkers();
      return;
    }
    // Announce once, when the first `count` workers are up (a restarted worker is not news).
    if (!message.listening || ++listening !== count) return;
    announce(config, logger, message.listening, count);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      logger.error({ worker: worker.process.pid, code, signal }, 'worker died; starting another');
      cluster.fork(instanceEnv);
      return;
    }
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      if (!failed) logger.info('stopped');
      process.exit(failed ? EXIT_FAILURE : 0);
    }
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight requests');
    stopWorkers();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Each worker reloads (and checks) the file itself.
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });
}
