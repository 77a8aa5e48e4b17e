/**
 * Resolves once SIGINT or SIGTERM arrived and `close` finished; a second signal exits at once.
 * For the long-running commands (`jobs server`, `jobs worker`).
 */
export function closeOnSignal(
  name: string,
  close: () => Promise<void>,
  note: (text: string) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`${name}: ${signal} again, exiting without waiting\n`);
        process.exit(1);
      }
      stopping = true;
      note(`${name}: ${signal} received, shutting down`);
      close()
        .catch((err: Error) => process.stderr.write(`${name}: error while closing: ${err.message}\n`))
        .finally(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
