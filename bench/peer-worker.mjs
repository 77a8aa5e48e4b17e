#!/usr/bin/env node
// A peer's worker process running an empty job, for bench/throughput.mjs:
//   node bench/peer-worker.mjs pg-boss|graphile-worker DATABASE_URL CONCURRENCY [BATCH]
// Prints "ready" once it takes work; stops on SIGTERM. Each peer is set up the way its docs
// recommend for low latency: pg-boss with LISTEN/NOTIFY on a notify queue (polling 0.5 s as the
// floor), graphile-worker as it comes (LISTEN/NOTIFY built in).
const [peer, url, concurrencyArg, batchArg = '1'] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const batchSize = Number(batchArg);
export const QUEUE = 'bench';

let stop;
if (peer === 'pg-boss') {
  const { PgBoss } = await import('pg-boss');
  const boss = new PgBoss({
    connectionString: url,
    useListenNotify: true,
    schedule: false,
    supervise: false,
  });
  boss.on('error', (err) => console.error(err));
  await boss.start();
  await boss.work(
    QUEUE,
    {
      batchSize,
      burstWhenBatchFull: batchSize > 1,
      localConcurrency: concurrency,
      pollingIntervalSeconds: 0.5,
      notifyPollingIntervalSeconds: 0.5,
    },
    async () => {},
  );
  stop = () => boss.stop({ graceful: true, wait: true });
} else if (peer === 'graphile-worker') {
  const { run, Logger } = await import('graphile-worker');
  const runner = await run({
    connectionString: url,
    concurrency,
    noHandleSignals: true,
    pollInterval: 500,
    logger: new Logger(() => (level, message) => {
      if (level === 'error') console.error(message);
    }),
    crontab: '',
    taskList: { [QUEUE]: async () => {} },
  });
  stop = () => runner.stop();
} else {
  throw new Error(`unknown peer ${peer}`);
}
console.log('ready');
process.on('SIGTERM', () => stop().finally(() => process.exit(0)));
