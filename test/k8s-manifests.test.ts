// The Kubernetes manifests (deploy/kubernetes/): every document valid against Kubernetes' OpenAPI
// schemas (kubernetes-models), and what no schema knows checked against the gateway itself: its
// settings, its config file validation, the paths and ports it serves, its drain, and a real
// redis-server started with the manifest's arguments.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join, posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { defaultSettings, loadConfig, settingNames } from '../src/config.js';
import { providerSpecs } from '../src/providers/index.js';
import { startFireworksSim } from '../sim/fireworks.js';
import { KEY, startGateway, startGatewayProcess, unreachableProviders, until } from './helpers.js';
import { sha256 } from './keys-helpers.js';
import { freePort, REDIS_SERVER, skipRedis } from './redis-server.js';

const MANIFESTS = 'deploy/kubernetes';
const KUSTOMIZATION = 'kustomization.yaml';
/**
 * After SHUTDOWN_GRACE_MS the gateway gives what it cut off 1 s to leave, then closes its pools and
 * telemetry: the pod's grace must hold that beyond preStop and the drain.
 */
const TERMINATION_MARGIN_S = 5;
/** A key a reader might try from the docs: the example's placeholder hash must match none. */
const PUBLISHED_KEY = 'gk-example-replace-me';
/** How long a reload after a ConfigMap swap may take: the watch's settling time, on a loaded machine. */
const RELOAD_TIMEOUT_MS = 10_000;
/** How long redis-server may take to accept connections on a loaded machine. */
const REDIS_START_TIMEOUT_MS = 10_000;

/** A kubernetes-models class: made from a document, `validate()` throws on a schema violation. */
type KindModel = new (data: any) => { validate(): void };

/** The kinds the manifests may use, each with the model that validates it against its OpenAPI schema. */
const MODELS: ReadonlyMap<string, KindModel> = new Map<string, KindModel>([
  ['v1/Namespace', Namespace],
  ['v1/ConfigMap', ConfigMap],
  ['v1/Secret', Secret],
  ['v1/Service', Service],
  ['apps/v1/Deployment', Deployment],
  ['apps/v1/StatefulSet', StatefulSet],
  ['autoscaling/v2/HorizontalPodAutoscaler', HorizontalPodAutoscaler],
  ['policy/v1/PodDisruptionBudget', PodDisruptionBudget],
  ['networking.k8s.io/v1/NetworkPolicy', NetworkPolicy],
]);

type Doc = Record<string, any>;

/**
 * The documents of a YAML text as Kubernetes reads them: YAML 1.1 (kubectl's sigs.k8s.io/yaml),
 * where an unquoted yes or on is a boolean, not the string an env value or an argument must be.
 */
function documents(text: string, file: string): Doc[] {
  return parseAllDocuments(text, { version: '1.1' }).flatMap((doc) => {
    assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
    const value = doc.toJS() as Doc | null;
    return value === null ? [] : [value];
  });
}

/** Validates `doc` against its kind's schema; throws for a schema violation or a kind without a model. */
function validate(doc: Doc): void {
  const Model = MODELS.get(`${doc.apiVersion}/${doc.kind}`);
  if (Model === undefined) throw new Error(`${String(doc.apiVersion)} ${String(doc.kind)} is not a kind this test validates`);
  new Model(doc).validate();
}

const files = readdirSync(MANIFESTS).filter((name) => /\.ya?ml$/.test(name)).sort();
/** Examples (the provider keys' Secret) are validated but not applied: an apply must not overwrite real keys. */
const resources = files.filter((name) => name !== KUSTOMIZATION && !name.endsWith('.example.yaml'));
const docs = files.filter((name) => name !== KUSTOMIZATION).flatMap((file) => documents(readFileSync(join(MANIFESTS, file), 'utf8'), file).map((doc) => ({ file, doc })));

function only(kind: string, name?: string): Doc {
  const found = docs.filter(({ doc }) => doc.kind === kind && (name === undefined || doc.metadata?.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0]!.doc;
}

const deployment = only('Deployment');
const gatewayPod = deployment.spec.template.spec;
const gateway = gatewayPod.containers.find((c: Doc) => c.name === 'gateway') as Doc;
const redisSet = only('StatefulSet');
const redisContainer = redisSet.spec.template.spec.containers[0] as Doc;
const hpa = only('HorizontalPodAutoscaler');

/** The gateway's environment as the kubelet builds it: the Secrets named by envFrom, then env. */
function gatewayEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of gateway.envFrom ?? []) {
    const secret = only('Secret', source.secretRef.name);
    Object.assign(env, secret.stringData ?? {});
    for (const [name, value] of Object.entries(secret.data ?? {})) env[name] = Buffer.from(value as string, 'base64').toString('utf8');
  }
  for (const entry of gateway.env ?? []) {
    assert.equal(typeof entry.value, 'string', `${entry.name} has a literal value`);
    env[entry.name] = entry.value;
  }
  return env;
}

/** Every variable the gateway reads: its settings, CONFIG_FILE, and each provider's base URL, key and options. */
function knownVariables(): Set<string> {
  const known = new Set<string>(['CONFIG_FILE', ...settingNames]);
  for (const spec of providerSpecs) {
    known.add(spec.baseUrlEnv);
    known.add(spec.apiKeyEnv);
    for (const option of Object.values(spec.options ?? {})) known.add(option.env);
  }
  return known;
}

/** Writes the ConfigMap mounted over CONFIG_FILE's directory into `dir`; returns the file's path there. */
function writeConfigFile(env: Record<string, string>, dir: string): string {
  const path = env.CONFIG_FILE!;
  const mount = (gateway.volumeMounts as Doc[]).find((m) => posix.dirname(path) === m.mountPath);
  assert.ok(mount, `a volume is mounted at ${posix.dirname(path)}, CONFIG_FILE's directory`);
  const volume = (gatewayPod.volumes as Doc[]).find((v) => v.name === mount.name)!;
  const data = only('ConfigMap', volume.configMap.name).data as Record<string, string>;
  const name = posix.basename(path);
  assert.ok(name in data, `the ConfigMap has ${name}`);
  writeFileSync(join(dir, name), data[name]!);
  return join(dir, name);
}

function probes(container: Doc): Doc[] {
  return [container.startupProbe, container.readinessProbe, container.livenessProbe].filter((probe) => probe !== undefined);
}

function portNamed(container: Doc, name: string): number {
  const port = (container.ports as Doc[]).find((p) => p.name === name);
  assert.ok(port, `${container.name} has a port named ${name}`);
  return port.containerPort;
}

/** The pods a selector picks, by their template's labels. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe('Kubernetes manifests: schemas', () => {
  test('every document of every file is valid against its kind\'s OpenAPI schema', () => {
    assert.ok(docs.length >= 10, `${docs.length} documents`);
    for (const { file, doc } of docs) {
      assert.doesNotThrow(() => validate(doc), `${file}: ${doc.kind} ${doc.metadata?.name}`);
    }
  });

  test('the validator refuses a broken document, an unquoted YAML 1.1 boolean, and an unknown kind', () => {
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = '3000';
    assert.throws(() => validate(broken), /containerPort must be integer/);

    const text = readFileSync(join(MANIFESTS, 'deployment.yaml'), 'utf8').replace('value: "on"', 'value: on');
    assert.notEqual(text, readFileSync(join(MANIFESTS, 'deployment.yaml'), 'utf8'));
    assert.throws(() => validate(documents(text, 'deployment.yaml')[0]!), /value must be string/);

    assert.throws(() => validate({ apiVersion: 'v1', kind: 'Pdo', metadata: { name: 'x' } }), /not a kind this test validates/);
  });

  test('kustomization.yaml lists every file, and nothing else', () => {
    const [kustomization] = documents(readFileSync(join(MANIFESTS, KUSTOMIZATION), 'utf8'), KUSTOMIZATION);
    assert.equal(kustomization!.kind, 'Kustomization');
    assert.deepEqual([...(kustomization!.resources as string[])].sort(), resources);
    assert.equal(kustomization!.namespace, only('Namespace').metadata.name);
    assert.ok((kustomization!.images as Doc[]).some((image) => gateway.image.startsWith(`${image.name}:`)), 'the gateway image can be set with kustomize edit set image');
  });
});

describe('Kubernetes manifests: what the gateway expects', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'k8s-manifests-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every variable the Deployment sets (its Secrets too) is one the gateway reads', () => {
    const known = knownVariables();
    const unknown = Object.keys(gatewayEnv()).filter((name) => !known.has(name));
    assert.deepEqual(unknown, []);
  });

  test('the Secret holds placeholders, never a real-looking key', () => {
    for (const source of gateway.envFrom) {
      const secret = only('Secret', source.secretRef.name);
      assert.equal(secret.data, undefined, 'placeholders in stringData, readable');
      for (const [name, value] of Object.entries(secret.stringData as Record<string, string>)) assert.equal(value, 'replace-me', name);
    }
  });

  test('the config file and the settings pass the gateway\'s own validation, and the file is watched through a directory mount', () => {
    const env = gatewayEnv();
    const config = loadConfig({ ...env, CONFIG_FILE: writeConfigFile(env, dir) });
    assert.ok(config.routes.length > 0, 'the example has a route');
    assert.ok(config.gatewayKeys.length > 0, 'the example has a gateway key');
    assert.equal(config.CONFIG_WATCH, 'on');
    const mount = (gateway.volumeMounts as Doc[]).find((m) => m.mountPath === posix.dirname(env.CONFIG_FILE!))!;
    // A subPath mount is a copy the kubelet never updates: the reload would never see a change.
    assert.equal(mount.subPath, undefined);
    assert.equal(mount.readOnly, true);
  });

  test('the container ports are the gateway\'s, the probes use them, and the Services target named ports', () => {
    const env = gatewayEnv();
    const config = loadConfig({ ...env, CONFIG_FILE: writeConfigFile(env, dir) });
    assert.equal(portNamed(gateway, 'http'), config.PORT);
    assert.equal(portNamed(gateway, 'metrics'), config.METRICS_PORT);
    assert.notEqual(config.HOST, '127.0.0.1', 'listens beyond loopback, where the kubelet and the Service reach it');
    assert.equal(Number(deployment.spec.template.metadata.annotations['prometheus.io/port']), config.METRICS_PORT);
    for (const probe of probes(gateway)) assert.equal(probe.httpGet.port, 'http');
    assert.equal(probes(gateway).length, 3);

    for (const { doc: service } of docs.filter(({ doc }) => doc.kind === 'Service')) {
      const workload = docs.find(({ doc }) => (doc.kind === 'Deployment' || doc.kind === 'StatefulSet') && selects(service.spec.selector, doc.spec.template.metadata.labels));
      assert.ok(workload, `${service.metadata.name} selects a workload's pods`);
      const names = workload.doc.spec.template.spec.containers.flatMap((c: Doc) => (c.ports as Doc[]).map((p) => p.name));
      for (const port of service.spec.ports) assert.ok(names.includes(port.targetPort), `${service.metadata.name}: targetPort ${port.targetPort} names a container port`);
    }
  });

  test('the pod\'s grace holds preStop, the drain and a margin; liveness cannot fire within it', () => {
    const env = gatewayEnv();
    const shutdownGraceMs = env.SHUTDOWN_GRACE_MS !== undefined ? Number(env.SHUTDOWN_GRACE_MS) : defaultSettings().SHUTDOWN_GRACE_MS;
    const preStopS = gateway.lifecycle.preStop.sleep.seconds as number;
    assert.ok(preStopS > 0);
    assert.ok(
      gatewayPod.terminationGracePeriodSeconds >= preStopS + shutdownGraceMs / 1000 + TERMINATION_MARGIN_S,
      `terminationGracePeriodSeconds ${gatewayPod.terminationGracePeriodSeconds} >= ${preStopS} + ${shutdownGraceMs / 1000} + ${TERMINATION_MARGIN_S}`,
    );
    // /health is 503 while draining: a liveness probe failing that long would restart a draining pod.
    const liveness = gateway.livenessProbe;
    assert.ok(liveness.periodSeconds * liveness.failureThreshold > gatewayPod.terminationGracePeriodSeconds);
  });

  test('every pod runs as a non-root user without privilege escalation, capabilities or a writable root', () => {
    for (const { doc } of docs.filter(({ doc }) => doc.kind === 'Deployment' || doc.kind === 'StatefulSet')) {
      const pod = doc.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, doc.metadata.name);
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', doc.metadata.name);
      assert.equal(pod.automountServiceAccountToken, false, doc.metadata.name);
      for (const container of pod.containers as Doc[]) {
        const context = container.securityContext;
        assert.equal(context.runAsNonRoot, true, container.name);
        assert.ok(context.runAsUser > 0, container.name);
        assert.equal(context.allowPrivilegeEscalation, false, container.name);
        assert.equal(context.readOnlyRootFilesystem, true, container.name);
        assert.deepEqual(context.capabilities.drop, ['ALL'], container.name);
        assert.ok(container.resources.requests.cpu && container.resources.requests.memory, `${container.name} requests CPU and memory`);
        assert.ok(container.resources.limits.memory, `${container.name} has a memory limit`);
      }
    }
    assert.equal(gateway.securityContext.runAsUser, 10001, 'the image\'s user');
  });

  test('the autoscaler, the disruption budget and REDIS_FAIL_OPEN_SHARE agree with the Deployment', () => {
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    // The autoscaler owns the count: a count in the Deployment would be set back at every apply.
    assert.ok(hpa.spec.minReplicas >= 2);
    assert.equal(deployment.spec.replicas, undefined);
    assert.ok(hpa.spec.metrics.some((m: Doc) => m.resource?.name === 'cpu'));
    const pdb = only('PodDisruptionBudget');
    assert.ok(selects(pdb.spec.selector.matchLabels, deployment.spec.template.metadata.labels));
    assert.ok(pdb.spec.maxUnavailable < hpa.spec.minReplicas, 'an eviction leaves a gateway serving');
    // Redis down, each pod admits this share of a limit on its own: the minimum of pods together at most the limit.
    assert.ok(Number(gatewayEnv().REDIS_FAIL_OPEN_SHARE) * hpa.spec.minReplicas <= 1);
  });

  test('REDIS_URL names the Redis Service and its port', () => {
    const url = new URL(gatewayEnv().REDIS_URL!);
    const service = only('Service', url.hostname);
    assert.ok(selects(service.spec.selector, redisSet.spec.template.metadata.labels));
    assert.equal(Number(url.port), service.spec.ports[0].port);
  });
});

/**
 * Writes `files` into `dir` as the kubelet's AtomicWriter updates a ConfigMap volume: the files in a
 * new timestamped directory, the `..data` link renamed onto it, and each file a link through
 * `..data` (made once). A file's own link never changes: only the directory sees the update.
 */
function writeConfigMapVolume(dir: string, files: Record<string, string>, generation: number): void {
  const stamped = `..2026_12_07_00_00_0${generation}.${process.pid}`;
  mkdirSync(join(dir, stamped));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, stamped, name), text);
  symlinkSync(stamped, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  if (generation === 0) for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name));
}

/** Resolves once `port` accepts connections; throws if `child` exits first or after REDIS_START_TIMEOUT_MS. */
async function listening(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: the StatefulSet's arguments are not a valid configuration`);
    if (Date.now() > deadline) throw new Error(`redis-server did not listen within ${REDIS_START_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Kubernetes manifests: run as they are', { skip: skipRedis }, () => {
  let dir: string;
  let redis: ChildProcess;
  let redisUrl: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8s-redis-'));
    // The manifest's arguments as they are, but its data directory and address: loopback only.
    const args = (redisContainer.args as string[]).slice(1);
    const dirAt = args.indexOf('--dir');
    assert.ok(dirAt >= 0);
    args[dirAt + 1] = dir;
    const port = await freePort();
    redis = spawn(REDIS_SERVER, [...args, '--port', String(port), '--bind', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'inherit'] });
    redisUrl = `redis://127.0.0.1:${port}`;
    await listening(port, redis);
  });
  after(async () => {
    if (redis.exitCode === null) {
      redis.kill('SIGTERM');
      await once(redis, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('redis-server runs with the StatefulSet\'s arguments: append-only, never evicting', async () => {
    assert.equal(redisContainer.args[0], 'redis-server');
    const client = new Redis(redisUrl);
    try {
      assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
      assert.deepEqual(await client.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
    } finally {
      client.disconnect();
    }
  });

  test('the gateway started with the Deployment\'s settings and config file answers the probes and the scrape', async () => {
    const env = gatewayEnv();
    const metricsPort = await freePort();
    // Loopback only, on free ports, with the local redis-server in the Service's place.
    const { server, url } = await startGateway({
      ...env,
      CONFIG_FILE: writeConfigFile(env, dir),
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      REDIS_URL: redisUrl,
    });
    const origin = new URL(url).origin;
    try {
      for (const probe of probes(gateway)) {
        const res = await fetch(`${origin}${probe.httpGet.path}`);
        assert.equal(res.status, 200, probe.httpGet.path);
        const health = (await res.json()) as { status: string; state?: { store: string; up: boolean } };
        assert.equal(health.status, 'ok');
        assert.deepEqual(health.state, { store: 'redis', up: true });
      }
      const annotations = deployment.spec.template.metadata.annotations;
      const scrape = await fetch(`http://127.0.0.1:${metricsPort}${annotations['prometheus.io/path']}`);
      assert.equal(scrape.status, 200);
      assert.match(await scrape.text(), /^gateway_state_store_up\{store="redis"\} 1$/m);
    } finally {
      await server.shutdown(0);
    }
  });
  test('a ConfigMap update, swapped in as the kubelet does, reloads the gateway without a restart', async () => {
    const sim = await startFireworksSim({ port: 0 });
    const env = gatewayEnv();
    const volume = mkdtempSync(join(tmpdir(), 'k8s-configmap-'));
    const mount = (gateway.volumeMounts as Doc[]).find((m) => m.mountPath === posix.dirname(env.CONFIG_FILE!))!;
    const configMap = only('ConfigMap', (gatewayPod.volumes as Doc[]).find((v) => v.name === mount.name)!.configMap.name);
    const data = configMap.data as Record<string, string>;
    writeConfigMapVolume(volume, data, 0);
    const name = posix.basename(env.CONFIG_FILE!);
    // The manifest's settings; loopback, free ports, the local Redis and the simulator in place of the cluster's.
    const pod = await startGatewayProcess({
      ...unreachableProviders(),
      ...env,
      CONFIG_FILE: join(volume, name),
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: String(await freePort()),
      REDIS_URL: redisUrl,
      FIREWORKS_BASE_URL: sim.url,
      FIREWORKS_API_KEY: KEY,
    });
    const ask = (key: string) =>
      fetch(`${pod.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      }).then((res) => res.status);
    const added = 'gk-added-0123456789abcdef';
    try {
      assert.equal(await ask(PUBLISHED_KEY), 401, 'no key published with the manifests opens the gateway');
      assert.equal(await ask(added), 401);
      const keyEntry = `  - { name: added-app, sha256: "${sha256(added)}", routes: [chat] }\n`;
      writeConfigMapVolume(volume, { ...data, [name]: `${data[name]!.trimEnd()}\n${keyEntry}` }, 1);
      const deadline = Date.now() + RELOAD_TIMEOUT_MS;
      while ((await ask(added)) !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(await ask(added), 200, 'the key added to the ConfigMap serves');
      // The same process, reloaded: its log line arrives through a pipe, possibly after the answer.
      await until(() => pod.output().includes('"msg":"configuration reloaded"'), RELOAD_TIMEOUT_MS);
    } finally {
      pod.child.kill('SIGKILL');
      await pod.exited;
      await sim.close();
      rmSync(volume, { recursive: true, force: true });
    }
  });
});
