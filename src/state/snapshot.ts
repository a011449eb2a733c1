// STATE_FILE: the memory store's budget counters on disk, so that a restart does not reset a monthly
// budget. Written whole to a temporary file then renamed over the old one, so that a crash leaves
// the old snapshot or the new one, never half of one. Read once at start-up; a file that is not a
// snapshot stops the start rather than silently starting every budget from zero.
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { ConfigError } from '../config.js';

/** One budget counter: its key, its period's id and end, and what it holds. */
export interface BudgetEntry {
  readonly key: string;
  readonly periodId: string;
  readonly endsAt: number;
  used: number;
}

const SNAPSHOT_VERSION = 1;

/** The budgets in `path`; none when it does not exist yet. Throws a ConfigError naming the file when it is not a snapshot. */
export function readSnapshot(path: string, now: number): BudgetEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError([`STATE_FILE: cannot read ${path}: ${(err as Error).message}`]);
  }
  const problem = (why: string) =>
    new ConfigError([`STATE_FILE: ${path} is not a budget snapshot (${why}); restore it from a backup, or move it away to start every budget from zero`]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw problem(`not JSON: ${(err as Error).message}`);
  }
  const snapshot = parsed as { version?: unknown; budgets?: unknown };
  if (typeof snapshot !== 'object' || snapshot === null || snapshot.version !== SNAPSHOT_VERSION || !Array.isArray(snapshot.budgets)) {
    throw problem(`expected {"version":${SNAPSHOT_VERSION},"budgets":[...]}`);
  }
  const entries: BudgetEntry[] = [];
  for (const [index, row] of snapshot.budgets.entries()) {
    if (!Array.isArray(row) || row.length !== 4) throw problem(`budgets[${index}] is not [key, period, endsAt, used]`);
    const [key, periodId, endsAt, used] = row as unknown[];
    if (typeof key !== 'string' || typeof periodId !== 'string' || !Number.isSafeInteger(endsAt) || !Number.isSafeInteger(used)) {
      throw problem(`budgets[${index}] is not [key, period, endsAt, used]`);
    }
    if ((endsAt as number) > now) entries.push({ key, periodId, endsAt: endsAt as number, used: used as number });
  }
  return entries;
}

/** Writes `entries` to `path` atomically (a temporary file renamed over it). */
export async function writeSnapshot(path: string, entries: Iterable<BudgetEntry>): Promise<void> {
  const budgets: [string, string, number, number][] = [];
  for (const entry of entries) budgets.push([entry.key, entry.periodId, entry.endsAt, entry.used]);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify({ version: SNAPSHOT_VERSION, budgets }));
  await rename(temporary, path);
}
