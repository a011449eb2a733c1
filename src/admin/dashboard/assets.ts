// The dashboard's page and its bundle (built by scripts/build-ui.mjs into dist/ui/), read once at
// start-up into memory with their gzip forms, and served from there: no file is read per request.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What scripts/build-ui.mjs writes beside the files: the page and each hashed asset. */
interface Manifest {
  readonly page: string;
  readonly assets: readonly string[];
}

export interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly contentType: string;
}

export interface UiAssets {
  readonly page: Asset;
  /** By file name (hashed, so that a new build never meets a stale cached copy). */
  readonly files: ReadonlyMap<string, Asset>;
}

/** Where the build puts the page: dist/ui, beside dist/src where this module runs from. */
export const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

function read(dir: string, name: string): Asset {
  const dot = name.lastIndexOf('.');
  const gzipPath = join(dir, `${name}.gz`);
  return {
    body: readFileSync(join(dir, name)),
    gzip: existsSync(gzipPath) ? readFileSync(gzipPath) : undefined,
    contentType: CONTENT_TYPES[name.slice(dot)] ?? 'application/octet-stream',
  };
}

/** The built page and assets, or undefined when the build has not made them. */
export function loadUiAssets(dir: string = UI_DIR): UiAssets | undefined {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const files = new Map<string, Asset>();
  for (const name of manifest.assets) files.set(name, read(join(dir, 'assets'), name));
  return { page: read(dir, manifest.page), files };
}
