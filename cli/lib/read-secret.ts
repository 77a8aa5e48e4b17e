import { Writable } from 'node:stream';
import readline from 'node:readline/promises';
import { text } from 'node:stream/consumers';

/**
 * A secret from stdin: piped (`… | jobs login`, `< token-file`: the first line), or typed at a
 * prompt on a terminal without echo. So a token need never be on the command line, where shell
 * history and `ps` would keep it.
 */
export async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return (await text(process.stdin)).split(/\r?\n/)[0]!.trim();
  // The prompt goes to stderr; what is typed is not echoed.
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = readline.createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answer = rl.question(prompt);
    muted = true;
    return (await answer).trim();
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}
