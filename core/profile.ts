import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What `jobs login` (or the first `jobs server` start) saves for the CLI: one API and its token. */
export interface Profile {
  apiUrl: string;
  token: string;
}

/**
 * The file: the current profile at the top (`apiUrl`, `token`: what the CLI uses by default, and
 * the whole file of earlier versions), and every saved API's token under `profiles`, by URL, so
 * that logging in to one API (or starting a second local server) never loses another's token.
 * `JOBS_API_URL` alone picks the saved token of that URL.
 */
interface ProfileFile {
  apiUrl?: string;
  token?: string;
  profiles?: Record<string, { token: string }>;
}

/** `$XDG_CONFIG_HOME/jobs/config.json`, default `~/.config/jobs/config.json`. */
export function profilePath(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'jobs', 'config.json');
}

function readFile(file: string): ProfileFile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const data = JSON.parse(text) as unknown;
  return data && typeof data === 'object' ? (data as ProfileFile) : undefined;
}

/** Every saved profile, the current one first. */
export function readProfiles(file = profilePath()): Profile[] {
  const data = readFile(file);
  if (!data) return [];
  const all = new Map<string, string>();
  if (typeof data.apiUrl === 'string' && typeof data.token === 'string') all.set(data.apiUrl, data.token);
  for (const [apiUrl, p] of Object.entries(data.profiles ?? {}))
    if (!all.has(apiUrl) && typeof p?.token === 'string') all.set(apiUrl, p.token);
  return [...all].map(([apiUrl, token]) => ({ apiUrl, token }));
}

/** The current profile, or with `apiUrl` the one saved for that URL. */
export function readProfile(file = profilePath(), apiUrl?: string): Profile | undefined {
  const all = readProfiles(file);
  return apiUrl === undefined ? all[0] : all.find((p) => p.apiUrl === apiUrl);
}

/**
 * Saves `profile` under its URL (replacing that URL's token) and, unless `current` is false, makes
 * it the current one. Atomic, mode 0600: it holds secrets.
 */
export function writeProfile(profile: Profile, file = profilePath(), opts: { current?: boolean } = {}): void {
  const others = readProfiles(file).filter((p) => p.apiUrl !== profile.apiUrl);
  const current = opts.current === false ? (others[0] ?? profile) : profile;
  const data: ProfileFile = {
    apiUrl: current.apiUrl,
    token: current.token,
    profiles: Object.fromEntries([profile, ...others].map((p) => [p.apiUrl, { token: p.token }])),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
