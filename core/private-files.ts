import fs from 'node:fs';
import path from 'node:path';

/** Mode of every directory the embedded server creates under its data directory. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file it writes there (the database, inputs, parts, secrets). */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Makes every file and directory this process creates from now on private to its user, whatever
 * mode the code creating it asks for (a library too: PGlite creates its files 0666). Called first
 * thing by `jobs server`, which keeps the embedded database and inputs in its data directory.
 *
 * @example
 * restrictNewFiles(); // umask 077: 0666 → 0600, 0777 → 0700
 */
export function restrictNewFiles(): void {
  process.umask(0o077);
}

/**
 * Creates `dir` and missing parents with mode 0700 (the umask only ever takes bits away, so the
 * mode holds under any umask that leaves the owner's); an existing directory is left as it is.
 */
export async function mkdirPrivate(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** mkdirPrivate, synchronously. */
export function mkdirPrivateSync(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Takes group and other permissions off `root` and everything under it (owner bits kept).
 * For trees written by code that sets modes itself, ignoring the umask: PGlite's initdb unpacks
 * its template files with mode 0666. Symbolic links are not followed. Files owned by another
 * user (a shared data directory) are skipped rather than failing the start.
 */
export async function restrictTree(root: string): Promise<void> {
  const visit = async (p: string): Promise<void> => {
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o077) !== 0 && (process.getuid === undefined || st.uid === process.getuid())) {
      await fs.promises.chmod(p, st.mode & 0o700);
    }
    if (st.isDirectory()) {
      for (const name of await fs.promises.readdir(p)) await visit(path.join(p, name));
    }
  };
  await visit(root);
}
