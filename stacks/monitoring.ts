import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard/index.js';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic/index.js';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy/index.js';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription/index.js';
import { Construct } from 'constructs';
import { policyDocument } from './policy-document.js';

export interface MonitoringOptions {
  prefix: string;
  region: string;
  alarmEmail: string;
  queueName: string;
  /** The queue of jobs with a priority above 0: the same age alarm as the job queue's. */
  priorityQueueName: string;
  dlqName: string;
  functionName: string;
  functionTimeoutSeconds: number;
  oldestMessageAgeAlarmSeconds: number;
  /** KMS key of the alarm topic; its policy must let cloudwatch.amazonaws.com use it (stacks/logs-key.ts). */
  kmsKeyArn: string;
  /** Share of the timeout beyond which the slowest invocation raises an alarm (default 0.8). */
  durationAlarmRatio?: number;
}

/**
 * Alarms to an SNS topic mailed to the on-call address, and one dashboard. SQS publishes its
 * metrics every 5 minutes, so queue alarms use 5-minute periods.
 */
export class Monitoring extends Construct {
  readonly topic: SnsTopic;
  readonly alarms: CloudwatchMetricAlarm[] = [];
  private readonly prefix: string;

  constructor(scope: Construct, id: string, opts: MonitoringOptions) {
    super(scope, id);
    const { prefix } = opts;
    this.prefix = prefix;
    // Encrypted with the environment's customer-managed key: CloudWatch cannot publish to a topic
    // under the AWS-managed SNS key, so that key's policy lets cloudwatch.amazonaws.com in.
    this.topic = new SnsTopic(this, 'alarms', { name: `${prefix}-alarms`, kmsMasterKeyId: opts.kmsKeyArn });
    new SnsTopicPolicy(this, 'alarms-policy', {
      arn: this.topic.arn,
      policy: policyDocument([
        {
          Sid: 'CloudWatchAlarmsPublish',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: this.topic.arn,
        },
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 'sns:Publish',
          Resource: this.topic.arn,
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ]),
    });
    new SnsTopicSubscription(this, 'alarm-email', {
      topicArn: this.topic.arn,
      protocol: 'email',
      endpoint: opts.alarmEmail,
    });

    const queue = (QueueName: string) => ({ namespace: 'AWS/SQS', dimensions: { QueueName } });
    const fn = { namespace: 'AWS/Lambda', dimensions: { FunctionName: opts.functionName } };
    const ratio = opts.durationAlarmRatio ?? 0.8;
    this.alarm('dlq-messages', {
      description: 'Messages reached the dead-letter queue: jobs gave up (see `jobs dlq list`).',
      ...queue(opts.dlqName),
      metricName: 'ApproximateNumberOfMessagesVisible',
      statistic: 'Maximum',
      period: 300,
      threshold: 0,
    });
    this.alarm('oldest-message-age', {
      description: `A job message has waited more than ${opts.oldestMessageAgeAlarmSeconds} s: the processor is stuck or too slow.`,
      ...queue(opts.queueName),
      metricName: 'ApproximateAgeOfOldestMessage',
      statistic: 'Maximum',
      period: 300,
      threshold: opts.oldestMessageAgeAlarmSeconds,
    });
    this.alarm('priority-oldest-message-age', {
      description: `A priority job message has waited more than ${opts.oldestMessageAgeAlarmSeconds} s: the processor is stuck or too slow.`,
      ...queue(opts.priorityQueueName),
      metricName: 'ApproximateAgeOfOldestMessage',
      statistic: 'Maximum',
      period: 300,
      threshold: opts.oldestMessageAgeAlarmSeconds,
    });
    this.alarm('lambda-errors', {
      description: 'The processor Lambda failed invocations (not job failures: crashes, timeouts).',
      ...fn,
      metricName: 'Errors',
      statistic: 'Sum',
      period: 60,
      threshold: 0,
    });
    this.alarm('lambda-throttles', {
      description:
        'The processor Lambda was throttled: raise reserved concurrency or lower the event source maximum.',
      ...fn,
      metricName: 'Throttles',
      statistic: 'Sum',
      period: 60,
      threshold: 0,
    });
    this.alarm('lambda-duration', {
      description: `An invocation took more than ${Math.round(ratio * 100)}% of the ${opts.functionTimeoutSeconds} s timeout.`,
      ...fn,
      metricName: 'Duration',
      statistic: 'Maximum',
      period: 60,
      threshold: Math.round(opts.functionTimeoutSeconds * 1000 * ratio),
    });

    const sqsMetric = (name: string, q: string) => ['AWS/SQS', name, 'QueueName', q];
    const lambdaMetric = (name: string, stat: string) => [
      'AWS/Lambda',
      name,
      'FunctionName',
      opts.functionName,
      { stat },
    ];
    const widget = (title: string, metrics: unknown[], x: number, y: number) => ({
      type: 'metric',
      x,
      y,
      width: 12,
      height: 6,
      properties: { title, region: opts.region, view: 'timeSeries', stacked: false, period: 300, metrics },
    });
    new CloudwatchDashboard(this, 'dashboard', {
      dashboardName: `${prefix}-jobs`,
      dashboardBody: JSON.stringify({
        widgets: [
          widget(
            'Queue depth',
            [
              sqsMetric('ApproximateNumberOfMessagesVisible', opts.queueName),
              sqsMetric('ApproximateNumberOfMessagesNotVisible', opts.queueName),
            ],
            0,
            0,
          ),
          widget(
            'Oldest message age (s)',
            [sqsMetric('ApproximateAgeOfOldestMessage', opts.queueName)],
            12,
            0,
          ),
          widget('Dead letters', [sqsMetric('ApproximateNumberOfMessagesVisible', opts.dlqName)], 0, 6),
          widget(
            'Processor invocations',
            [
              lambdaMetric('Invocations', 'Sum'),
              lambdaMetric('Errors', 'Sum'),
              lambdaMetric('Throttles', 'Sum'),
              lambdaMetric('ConcurrentExecutions', 'Maximum'),
            ],
            12,
            6,
          ),
          widget(
            'Processor duration (ms)',
            [lambdaMetric('Duration', 'Average'), lambdaMetric('Duration', 'Maximum')],
            0,
            12,
          ),
        ],
      }),
    });
  }

  private alarm(
    id: string,
    a: {
      description: string;
      namespace: string;
      dimensions: Record<string, string>;
      metricName: string;
      statistic: string;
      period: number;
      threshold: number;
    },
  ): void {
    this.alarms.push(
      new CloudwatchMetricAlarm(this, id, {
        alarmName: `${this.prefix}-${id}`,
        alarmDescription: a.description,
        namespace: a.namespace,
        metricName: a.metricName,
        dimensions: a.dimensions,
        statistic: a.statistic,
        period: a.period,
        evaluationPeriods: 1,
        threshold: a.threshold,
        comparisonOperator: 'GreaterThanThreshold',
        treatMissingData: 'notBreaching',
        alarmActions: [this.topic.arn],
        okActions: [this.topic.arn],
      }),
    );
  }
}
