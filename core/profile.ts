import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What `jobs login` (or the first `jobs server` start) saves for the CLI. */
export interface Profile {
  apiUrl: string;
  token: string;
}

/** `$XDG_CONFIG_HOME/jobs/config.json`, default `~/.config/jobs/config.json`. */
export function profilePath(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'jobs', 'config.json');
}

export function readProfile(file = profilePath()): Profile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const data = JSON.parse(text) as Partial<Profile>;
  if (typeof data.apiUrl !== 'string' || typeof data.token !== 'string') return undefined;
  return { apiUrl: data.apiUrl, token: data.token };
}

/** Writes the profile atomically with mode 0600: it holds a secret. */
export function writeProfile(profile: Profile, file = profilePath()): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(profile, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
