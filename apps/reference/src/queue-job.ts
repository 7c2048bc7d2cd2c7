import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JobResult, RunJob } from './jobs.js';
import { jobLabel } from './jobs.js';
import { resolveProfile } from './profiles.js';

// ─── What a queued run carries ─────────────────────────────────────────────────────────────
//
// A run sent through Redis carries its whole input (the RunJob: machine, profile, mode,
// workload, seed, duration…) with three checks a worker makes before running it: the shape of
// this envelope (QUEUE_SCHEMA), the @exitless/cli version that queued it, and a hash of the
// calibration profile the run resolves to. A worker whose version or profile differs would not
// give the same figures, so it refuses the run (queue-worker.ts).

/** The version of the queued job's shape; a worker refuses jobs of another schema. */
export const QUEUE_SCHEMA = 1;

/** The BullMQ queue every coordinator and worker uses (its Redis keys start with `bull:exitless:`). */
export const QUEUE_NAME = 'exitless';

/** What a queued job holds (BullMQ's job data: plain JSON). */
export interface QueueJobData {
  readonly schema: number;
  /** The @exitless/cli version of the coordinator that queued the run. */
  readonly version: string;
  /** profileHash of the profile the run resolves to, on the coordinator. */
  readonly profileHash: string;
  /** The run's label (jobLabel), for the worker's log lines. */
  readonly label: string;
  /** The RunJob, encoded (encodeValue). */
  readonly input: string;
}

/** What a worker gives back for a run (BullMQ's return value). */
export interface QueueJobReturn {
  /** The worker that ran it (`--name`, default host:pid). */
  readonly worker: string;
  /** The JobResult, encoded (encodeValue). */
  readonly result: string;
}

let version: string | undefined;

/**
 * This build's @exitless/cli version, from its package.json: one directory up from both
 * src/ (run from the sources) and dist/ (the built CLI).
 */
export function cliVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return version;
}

/** `value` with every object's keys in sorted order (arrays keep theirs). */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]),
  );
}

/** `value` as encoded text with its object keys sorted, so that equal values give equal text. */
function canonicalJson(value: unknown): string {
  return encodeValue(sortedKeys(value));
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The hash of the calibration profile a job's reference resolves to (its entries, values,
 * ranges and sources): a shipped profile by name hashes as this build has it.
 */
export function profileHash(ref: RunJob['profile']): string {
  return sha256(canonicalJson(resolveProfile(ref))).slice(0, 16);
}

/**
 * The job's data for the queue: its input, with the schema, this build's version and the hash
 * of its profile. `stamp` replaces the version and hash (what another build would send).
 */
export function queueJobData(
  job: RunJob,
  stamp: { readonly version?: string; readonly profileHash?: string } = {},
): QueueJobData {
  // The tag is the run's name in its command, not part of what it computes.
  const { tag: _tag, ...input } = job;
  return {
    schema: QUEUE_SCHEMA,
    version: stamp.version ?? cliVersion(),
    profileHash: stamp.profileHash ?? profileHash(job.profile),
    label: jobLabel(job),
    input: encodeValue(input),
  };
}

/**
 * The queue's id for a run: a hash of its whole input with the schema, version and profile
 * hash. Equal ids are equal runs (the simulation is deterministic), so a run already queued or
 * finished with this id gives the result this one would: the basis of --resume.
 */
export function queueJobId(data: QueueJobData): string {
  // The input as sent keeps its keys' order (a profile's entries are in the profile's order); its id does not depend on it.
  const input = canonicalJson(decodeValue(data.input));
  return `run-${sha256(canonicalJson({ schema: data.schema, version: data.version, profileHash: data.profileHash, input }))}`;
}

// ─── Encoding ───────────────────────────────────────────────────────────────────────────────
//
// Reports cross Redis as JSON, which would turn NaN and ±Infinity into null, -0 into 0 and
// drop undefined; a worker thread's structured clone keeps them. These markers keep them too,
// so that a report from a remote worker is the one a local thread gives.

const NUMBER_MARK = '$exitless.number';
const UNDEFINED_MARK = '$exitless.undefined';

/** `value` as JSON text that decodeValue turns back into an equal value (NaN, ±Infinity, -0 and undefined kept). */
export function encodeValue(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    // `v` has been through toJSON; the raw property tells undefined apart from a dropped key
    // (`this` is the holder: for the value itself, a wrapper whose '' key holds it).
    const raw = (this as Record<string, unknown>)[key];
    if (raw === undefined) return { [UNDEFINED_MARK]: true };
    if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) {
      return { [NUMBER_MARK]: Object.is(v, -0) ? '-0' : String(v) };
    }
    return v;
  });
}

function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === UNDEFINED_MARK) return undefined;
  if (keys.length === 1 && keys[0] === NUMBER_MARK) return Number(record[NUMBER_MARK]);
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = revive(record[k]);
  return out;
}

/** The value encodeValue encoded. */
export function decodeValue(text: string): unknown {
  return revive(JSON.parse(text));
}

/**
 * Why `data` (a job's data as Redis holds it) is not a run an exitless coordinator queued, or
 * null when it has the shape of one: what a worker says of a job someone else put in the queue.
 */
export function notQueueJobData(data: unknown): string | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return `its data is ${data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data}, not an exitless run`;
  }
  const d = data as Record<string, unknown>;
  const wrong = (['schema', 'version', 'profileHash', 'label', 'input'] as const).filter((k) =>
    k === 'schema' ? typeof d[k] !== 'number' : typeof d[k] !== 'string',
  );
  return wrong.length === 0
    ? null
    : `it is not an exitless run (${wrong.join(', ')} ${wrong.length === 1 ? 'is' : 'are'} missing or of the wrong type)`;
}

/** A queued job's input. */
export function decodeJob(data: QueueJobData): RunJob {
  return decodeValue(data.input) as RunJob;
}

/** A worker's result for a run. */
export function decodeResult(value: QueueJobReturn): JobResult {
  return decodeValue(value.result) as JobResult;
}
