/** One statement of an IAM (or resource) policy, as AWS spells it. */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: '*' | Record<string, string | string[]>;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/**
 * A policy as a JSON string. Terraform references (cdktf tokens) inside it resolve to `${…}`
 * interpolations, so the synthesized JSON still holds a policy that tests can parse and check.
 */
export function policyDocument(statements: PolicyStatement[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/**
 * The trust policy letting one AWS service (e.g. `lambda.amazonaws.com`) assume a role, under
 * `condition` when given (e.g. `aws:SourceAccount`, against the confused deputy).
 */
export function assumeRolePolicy(service: string, condition?: PolicyStatement['Condition']): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: service },
        Action: 'sts:AssumeRole',
        ...(condition ? { Condition: condition } : {}),
      },
    ],
  });
}
