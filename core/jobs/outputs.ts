/**
 * Job outputs: named files a handler writes while it runs (`ctx.outputs.create`), kept in the
 * blob store and listed on the job. A job row holds them as one JSON array (`jobs.outputs`):
 *
 * - an entry is recorded *before* its bytes are written (`{name, key, contentType, token}`), so
 *   whatever an attempt may have left in the blob store is known, even when it was killed
 *   mid-write;
 * - it gets `{size, sha256}` once the blob store has every byte; only such entries are listed
 *   (`listedOutputs`): a half-written output is never shown nor downloadable.
 *
 * The key has the attempt's lease token in it, so an attempt that lost its lease (and may still be
 * writing) can never overwrite a later attempt's file of the same name.
 */

/** An output as a job lists it (the contract's shape). */
export interface JobOutput {
  name: string;
  size: number;
  sha256: string;
  contentType: string;
}

/** An output as `jobs.outputs` stores it. */
export interface OutputEntry {
  name: string;
  /** Where its bytes are in the blob store. */
  key: string;
  contentType: string;
  /** The lease token of the attempt that wrote it. */
  token: string;
  /** Set once every byte is stored. */
  size?: number;
  sha256?: string;
}

/** Outputs one attempt may create (the array lives in the job row). */
export const MAX_OUTPUTS_PER_JOB = 100;
/** One output's byte limit: S3's 10,000 parts of 8 MiB hold 78 GiB, so parts stay 8 MiB. */
export const MAX_OUTPUT_BYTES = 64 * 1024 ** 3;
export const MAX_OUTPUT_NAME_LENGTH = 128;
export const DEFAULT_OUTPUT_CONTENT_TYPE = 'application/octet-stream';

const OUTPUT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// type/subtype with optional parameters (`text/csv; charset=utf-8`), printable ASCII only.
const CONTENT_TYPE = /^[A-Za-z0-9][\w.+-]*\/[A-Za-z0-9][\w.+-]*(\s*;\s*[\w.+-]+=("[\x20-\x7e]*"|[\w.+-]+))*$/;

/**
 * Why `name` cannot name an output (undefined: it can). A name is a file name: no path
 * separators, starting with a letter or digit (so never `.`, `..` or a hidden file), at most
 * MAX_OUTPUT_NAME_LENGTH characters of letters, digits, `.`, `_` and `-`: safe as a blob key
 * segment, in a URL, and as a file name on every OS the CLI downloads to.
 */
export function outputNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'an output needs a name';
  if (name.length > MAX_OUTPUT_NAME_LENGTH)
    return `output name ${JSON.stringify(name.slice(0, 40) + '…')} is longer than ${MAX_OUTPUT_NAME_LENGTH} characters`;
  if (!OUTPUT_NAME.test(name)) {
    return `invalid output name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-", starting with a letter or digit (no path separators)`;
  }
  return undefined;
}

/** Why `type` is not a usable Content-Type (undefined: it is). */
export function contentTypeProblem(type: unknown): string | undefined {
  if (typeof type !== 'string' || type.length > 200 || !CONTENT_TYPE.test(type))
    return `invalid content type ${JSON.stringify(type)}: expected a MIME type such as "text/csv"`;
  return undefined;
}

/** The stored entries as the job lists them: complete ones only, in the order they were begun. */
export function listedOutputs(stored: unknown): JobOutput[] {
  if (!Array.isArray(stored)) return [];
  return (stored as OutputEntry[])
    .filter((e) => typeof e?.sha256 === 'string')
    .map((e) => ({ name: e.name, size: Number(e.size), sha256: e.sha256!, contentType: e.contentType }));
}

/** The complete entry named `name`, with its key (undefined: no such listed output). */
export function findOutput(stored: unknown, name: string): (JobOutput & { key: string }) | undefined {
  if (!Array.isArray(stored)) return undefined;
  const e = (stored as OutputEntry[]).find((o) => o?.name === name && typeof o.sha256 === 'string');
  return (
    e && { name: e.name, size: Number(e.size), sha256: e.sha256!, contentType: e.contentType, key: e.key }
  );
}

/** Every blob key the entries name, listed or not (what deleting the job's outputs removes). */
export function outputKeys(stored: unknown): string[] {
  if (!Array.isArray(stored)) return [];
  return (stored as OutputEntry[]).map((e) => e?.key).filter((k): k is string => typeof k === 'string');
}
