// A module-load probe for otel.test.ts: given to a gateway process with --import, it registers
// itself as the process's module resolve hook and writes a line to stderr for every module resolved
// under an @opentelemetry package, so that the test can tell whether any was loaded at all.
import { writeSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

/** What the probe writes before a module's URL. */
export const LOADED_MARK = 'otel-load-probe: loaded ';

// On the main thread the probe registers itself; Node then loads it again on its hooks thread, where it only hooks.
if (isMainThread) register(import.meta.url);

interface Resolved {
  url: string;
}

export async function resolve(specifier: string, context: unknown, nextResolve: (specifier: string, context: unknown) => Promise<Resolved>): Promise<Resolved> {
  const resolved = await nextResolve(specifier, context);
  if (resolved.url.includes('/@opentelemetry/')) writeSync(2, `${LOADED_MARK}${resolved.url}\n`);
  return resolved;
}
