/**
 * Runs `work` whenever `kick` is called, never twice at once; kicks during a run cause exactly
 * one more run. Followers wake on notifications and re-read: however many arrive while a read is
 * in progress, they cost one read more.
 */
export function coalesced(work: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false;
  let again = false;
  return function kick() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void (async () => {
      try {
        do {
          again = false;
          await work();
        } while (again);
      } catch (err) {
        onError(err);
      } finally {
        running = false;
      }
    })();
  };
}
