import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Testing } from 'cdktf';
import type { EnvironmentConfig } from '../../stacks/config/types.js';
import { JobsStack, type JobsStackOptions } from '../../stacks/jobs-stack.js';

export type Block = Record<string, any>;
export interface TfJson {
  resource: Record<string, Record<string, Block>>;
  data: Record<string, Record<string, Block>>;
  terraform: Block;
  provider: Block;
  output: Record<string, Block>;
}

/** A stand-in processor zip (the stacks only copy it as an asset). */
export function fixtureZip(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-stack-'));
  const file = path.join(dir, 'processor.zip');
  fs.writeFileSync(file, 'not really a zip, but a stable asset');
  return file;
}

/** One environment's stack synthesized in memory (Testing.synth), parsed. */
export function synthStack(environment: EnvironmentConfig, opts: Partial<JobsStackOptions> = {}): TfJson {
  const app = Testing.app();
  const stack = new JobsStack(app, `jobs-${environment.name}`, {
    environment,
    processorZipPath: opts.processorZipPath ?? fixtureZip(),
    ...opts,
  });
  return JSON.parse(Testing.synth(stack)) as TfJson;
}

/** The resources of one type, as a list of their configurations. */
export function resources(json: TfJson, type: string): Block[] {
  return Object.values(json.resource[type] ?? {});
}

/** The only resource of a type (fails when there are several or none). */
export function only(json: TfJson, type: string): Block {
  const all = resources(json, type);
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

/**
 * The logical name of the resource at construct path `path` (below the stack): cdktf joins the
 * path with "_" (dropping a repeated part) and appends a hash, e.g. `storage_bucket_6AF501AE`.
 */
export function nameOf(json: TfJson, type: string, path: string): string {
  const parts = path.split('/').filter((p, i, all) => i === 0 || p !== all[i - 1]);
  const want = parts.join('_');
  const hit = Object.keys(json.resource[type] ?? {}).find((n) => n.replace(/_[0-9A-F]{8}$/, '') === want);
  if (!hit) throw new Error(`no ${type} at ${path}`);
  return hit;
}

export const ref = (type: string, name: string, attr: string) => `\${${type}.${name}.${attr}}`;

/** Asset directories are content hashes: scrubbed so snapshots do not depend on the bundle. */
export function scrub(json: TfJson): unknown {
  return JSON.parse(
    JSON.stringify(json).replace(/assets\/([A-Za-z0-9_-]+)\/[0-9A-F]{32}\//g, 'assets/$1/<hash>/'),
  );
}

export const clone = <T>(v: T): T => structuredClone(v);
