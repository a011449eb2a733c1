// What the tests of gateway keys share: a key's hash as the config file holds it, and a config
// file written to a temporary folder.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The hex SHA-256 of a key, as `keys[].sha256` and ADMIN_KEY_SHA256 take it. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A config file holding `yaml`, in a folder of its own; its path. */
export function configFileWith(yaml: string, prefix = 'gateway-keys-'): string {
  const file = join(mkdtempSync(join(tmpdir(), prefix)), 'gateway.yaml');
  writeFileSync(file, yaml);
  return file;
}
