import { Flags } from '@oclif/core';
import { loadConfig } from '../../core/config.js';
import { BaseCommand } from '../lib/base-command.js';
import { requireExtras } from '../lib/extras.js';

export default class Doctor extends BaseCommand {
  static override summary = 'Check the configured database, bucket, queue and function, one line each.';
  static override description = `Checks what this environment is configured with: the database (DATABASE_URL, with JOBS_DATABASE_SECRET_ARN when set: it connects and checks every migration is applied), the bucket (JOBS_S3_BUCKET: it exists, and an object can be written and deleted under inputs/), the queue (JOBS_SQS_QUEUE_URL: it answers, has a dead-letter queue, and its visibility timeout and maxReceiveCount match JOBS_VISIBILITY_TIMEOUT_SECONDS and JOBS_MAX_RECEIVES; JOBS_SQS_DLQ_URL is that DLQ) and the processor function (JOBS_LAMBDA_FUNCTION_NAME: active, in a VPC, reading the same queue and bucket). Unconfigured parts are skipped. Exit code 1 when any check fails.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --function jobs-prod-processor --json',
  ];
  static override flags = {
    function: Flags.string({ description: 'the processor function (default JOBS_LAMBDA_FUNCTION_NAME)' }),
    timeout: Flags.integer({ description: 'seconds each check may take', min: 1, default: 10 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    requireExtras('server', 'doctor');
    const config = loadConfig(process.env, { lambdaFunctionName: flags.function });
    const { S3Client } = await import('@aws-sdk/client-s3');
    const { SQSClient } = await import('@aws-sdk/client-sqs');
    const { LambdaClient } = await import('@aws-sdk/client-lambda');
    const { runDoctor } = await import('../lib/infra-doctor.js');
    const region = config.awsRegion ?? 'us-east-1';
    const clients = {
      s3: new S3Client({
        region,
        endpoint: config.s3Endpoint,
        forcePathStyle: Boolean(config.s3Endpoint),
        maxAttempts: 2,
      }),
      sqs: new SQSClient({ region, endpoint: config.sqsEndpoint, maxAttempts: 2 }),
      lambda: new LambdaClient({ region, maxAttempts: 2 }),
    };
    const spinner = this.spinner('Checking');
    let checks;
    try {
      checks = await runDoctor(config, clients, { timeoutMs: flags.timeout * 1000 });
    } finally {
      spinner.stop();
      for (const c of Object.values(clients)) c.destroy();
    }
    const ok = checks.every((c) => c.status !== 'fail');
    if (this.json) this.printJson({ ok, checks });
    else for (const c of checks) this.out(`${c.status.padEnd(4)}  ${c.name.padEnd(8)}  ${c.detail}`);
    if (!ok) this.exit(1);
  }
}
