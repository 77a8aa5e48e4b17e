import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { Eip } from '@cdktf/provider-aws/lib/eip/index.js';
import { FlowLog } from '@cdktf/provider-aws/lib/flow-log/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { InternetGateway } from '@cdktf/provider-aws/lib/internet-gateway/index.js';
import { NatGateway } from '@cdktf/provider-aws/lib/nat-gateway/index.js';
import { Route } from '@cdktf/provider-aws/lib/route/index.js';
import { RouteTable } from '@cdktf/provider-aws/lib/route-table/index.js';
import { RouteTableAssociation } from '@cdktf/provider-aws/lib/route-table-association/index.js';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group/index.js';
import { Subnet } from '@cdktf/provider-aws/lib/subnet/index.js';
import { Vpc } from '@cdktf/provider-aws/lib/vpc/index.js';
import { VpcEndpoint } from '@cdktf/provider-aws/lib/vpc-endpoint/index.js';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule/index.js';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js';
import { Fn } from 'cdktf';
import { Construct } from 'constructs';
import type { NetworkConfig } from './config/types.js';
import { assumeRolePolicy, policyDocument } from './policy-document.js';

export interface NetworkOptions {
  /** Resource name prefix, e.g. `jobs-qa`. */
  prefix: string;
  region: string;
  config: NetworkConfig;
  /** Where a created VPC's flow logs go: a log group encrypted with this key. */
  flowLogs: { kmsKeyArn: string; account: string; partition: string };
}

/** The log group of a created VPC's flow logs. */
export const flowLogGroupName = (prefix: string) => `/aws/vpc/${prefix}-flow-logs`;

/**
 * Private subnets with no route to the internet: the Lambda reaches S3 through a gateway
 * endpoint, SQS and Secrets Manager through interface endpoints, so no NAT gateway is needed (nor paid for).
 * A VPC created here records its flow logs (every accepted and rejected connection) in a
 * KMS-encrypted log group; a VPC you bring keeps whatever flow logs you gave it.
 * The Lambda's security group starts with no egress at all; `allowLambdaTo…` open exactly what
 * it needs: HTTPS to the interface endpoints and the S3 prefix list, and the database port.
 * `webhookEgress` adds the one way out webhooks need: a NAT gateway (created VPC) and ports 80
 * and 443 to anywhere from the processor and the API hosts.
 */
export class Network extends Construct {
  readonly vpcId: string;
  readonly privateSubnetIds: string[];
  /** The processor Lambda's security group. */
  readonly lambdaSecurityGroupId: string;
  /** A security group for the API hosts: the endpoints and the database admit it. */
  readonly apiHostSecurityGroupId: string;
  private readonly lambdaSg: SecurityGroup;
  private readonly apiHostSg: SecurityGroup;

  constructor(scope: Construct, id: string, opts: NetworkOptions) {
    super(scope, id);
    const { prefix, region, config } = opts;
    let routeTableIds: string[];
    if ('existingVpcId' in config) {
      this.vpcId = config.existingVpcId;
      this.privateSubnetIds = config.existingPrivateSubnetIds;
      routeTableIds = config.existingRouteTableIds;
    } else {
      const vpc = new Vpc(this, 'vpc', {
        cidrBlock: config.cidr,
        enableDnsHostnames: true, // the SQS interface endpoint's private DNS needs both
        enableDnsSupport: true,
        tags: { Name: prefix },
      });
      this.vpcId = vpc.id;
      this.flowLogs(vpc.id, prefix, region, config.flowLogRetentionDays ?? 90, opts.flowLogs);
      // One route table without a default route: these subnets are private by construction.
      const routes = new RouteTable(this, 'private-routes', {
        vpcId: vpc.id,
        tags: { Name: `${prefix}-private` },
      });
      routeTableIds = [routes.id];
      this.privateSubnetIds = config.availabilityZones.map((az, i) => {
        const subnet = new Subnet(this, `private-${i}`, {
          vpcId: vpc.id,
          availabilityZone: az,
          cidrBlock: Fn.cidrsubnet(config.cidr, 4, i),
          mapPublicIpOnLaunch: false,
          tags: { Name: `${prefix}-private-${az}` },
        });
        new RouteTableAssociation(this, `private-${i}-routes`, {
          subnetId: subnet.id,
          routeTableId: routes.id,
        });
        return subnet.id;
      });
      if (config.webhookEgress) this.natGateway(vpc.id, config, prefix, routes.id);
    }

    const s3Endpoint = new VpcEndpoint(this, 's3-endpoint', {
      vpcId: this.vpcId,
      serviceName: `com.amazonaws.${region}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds,
      tags: { Name: `${prefix}-s3` },
    });

    this.lambdaSg = new SecurityGroup(this, 'lambda-sg', {
      name: `${prefix}-processor`,
      description: 'jobs processor Lambda: egress only to the VPC endpoints and the database',
      vpcId: this.vpcId,
      // No inline rules: Terraform removes the allow-all egress AWS adds to a new group, so the
      // separate rules below are all the group allows.
      tags: { Name: `${prefix}-processor` },
    });
    this.lambdaSecurityGroupId = this.lambdaSg.id;
    // For the hosts running `jobs server` in this VPC (attach it to them; add your load
    // balancer's ingress yourself). With private DNS on, every host in the VPC reaches SQS and
    // Secrets Manager through the interface endpoints, so the endpoints must admit them too.
    this.apiHostSg = new SecurityGroup(this, 'api-host-sg', {
      name: `${prefix}-api-host`,
      description: 'jobs API hosts: egress only to the VPC endpoints and the database',
      vpcId: this.vpcId,
      tags: { Name: `${prefix}-api-host` },
    });
    this.apiHostSecurityGroupId = this.apiHostSg.id;

    const endpointSg = new SecurityGroup(this, 'endpoint-sg', {
      name: `${prefix}-endpoints`,
      description: 'jobs VPC interface endpoints: HTTPS from the processor and the API hosts only',
      vpcId: this.vpcId,
      tags: { Name: `${prefix}-endpoints` },
    });

    // SQS for the queue; Secrets Manager because the processor reads its database secret at cold
    // start. Private DNS makes the SDKs' default hostnames resolve to these endpoints.
    for (const service of ['sqs', 'secretsmanager']) {
      new VpcEndpoint(this, `${service}-endpoint`, {
        vpcId: this.vpcId,
        serviceName: `com.amazonaws.${region}.${service}`,
        vpcEndpointType: 'Interface',
        privateDnsEnabled: true,
        subnetIds: this.privateSubnetIds,
        securityGroupIds: [endpointSg.id],
        tags: { Name: `${prefix}-${service}` },
      });
    }

    for (const [who, sg, label] of this.clients()) {
      new VpcSecurityGroupIngressRule(this, `endpoint-from-${who}`, {
        securityGroupId: endpointSg.id,
        referencedSecurityGroupId: sg.id,
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        description: `HTTPS from ${label}`,
      });
      new VpcSecurityGroupEgressRule(this, `${who}-to-endpoints`, {
        securityGroupId: sg.id,
        referencedSecurityGroupId: endpointSg.id,
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        description: 'HTTPS to the SQS and Secrets Manager interface endpoints',
      });
      new VpcSecurityGroupEgressRule(this, `${who}-to-s3`, {
        securityGroupId: sg.id,
        prefixListId: s3Endpoint.prefixListId,
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        description: 'HTTPS to S3 through the gateway endpoint',
      });
      if (config.webhookEgress) {
        for (const port of [443, 80]) {
          new VpcSecurityGroupEgressRule(this, `${who}-to-internet-${port}`, {
            securityGroupId: sg.id,
            cidrIpv4: '0.0.0.0/0',
            ipProtocol: 'tcp',
            fromPort: port,
            toPort: port,
            description: `webhook deliveries: port ${port} to receivers on the internet, through the NAT gateway`,
          });
        }
      }
    }
  }

  /**
   * The way out for webhook deliveries: one public subnet (the CIDR's last /+4 block, in the
   * first zone) with a route to an internet gateway, one NAT gateway there, and the private
   * subnets' default route through it. One NAT gateway, not one per zone: deliveries are retried
   * for a day, so a zone's outage delays them rather than losing them, at a third of the cost.
   */
  private natGateway(
    vpcId: string,
    config: { cidr: string; availabilityZones: string[] },
    prefix: string,
    privateRoutes: string,
  ): void {
    const igw = new InternetGateway(this, 'igw', { vpcId, tags: { Name: prefix } });
    const publicSubnet = new Subnet(this, 'public-0', {
      vpcId,
      availabilityZone: config.availabilityZones[0],
      cidrBlock: Fn.cidrsubnet(config.cidr, 4, 15),
      mapPublicIpOnLaunch: false,
      tags: { Name: `${prefix}-public-${config.availabilityZones[0]}` },
    });
    const publicRoutes = new RouteTable(this, 'public-routes', { vpcId, tags: { Name: `${prefix}-public` } });
    new Route(this, 'public-default', {
      routeTableId: publicRoutes.id,
      destinationCidrBlock: '0.0.0.0/0',
      gatewayId: igw.id,
    });
    new RouteTableAssociation(this, 'public-0-routes', {
      subnetId: publicSubnet.id,
      routeTableId: publicRoutes.id,
    });
    const ip = new Eip(this, 'nat-ip', { domain: 'vpc', tags: { Name: `${prefix}-nat` }, dependsOn: [igw] });
    const nat = new NatGateway(this, 'nat', {
      allocationId: ip.id,
      subnetId: publicSubnet.id,
      tags: { Name: prefix },
      dependsOn: [igw],
    });
    new Route(this, 'private-default', {
      routeTableId: privateRoutes,
      destinationCidrBlock: '0.0.0.0/0',
      natGatewayId: nat.id,
    });
  }

  /**
   * The VPC's flow logs (all traffic) to CloudWatch Logs, delivered by a role that may write to
   * that one log group and nothing else, and that only VPC Flow Logs of this account may assume.
   */
  private flowLogs(
    vpcId: string,
    prefix: string,
    region: string,
    retentionDays: number,
    o: NetworkOptions['flowLogs'],
  ): void {
    const group = new CloudwatchLogGroup(this, 'flow-logs', {
      name: flowLogGroupName(prefix),
      retentionInDays: retentionDays,
      kmsKeyId: o.kmsKeyArn,
    });
    const role = new IamRole(this, 'flow-logs-role', {
      name: `${prefix}-flow-logs`,
      // Only flow logs of this account may use it (no confused deputy).
      assumeRolePolicy: assumeRolePolicy('vpc-flow-logs.amazonaws.com', {
        StringEquals: { 'aws:SourceAccount': o.account },
        ArnLike: { 'aws:SourceArn': `arn:${o.partition}:ec2:${region}:${o.account}:vpc-flow-log/*` },
      }),
    });
    const policy = new IamRolePolicy(this, 'flow-logs-policy', {
      name: `${prefix}-flow-logs-least-privilege`,
      role: role.id,
      policy: policyDocument([
        {
          Sid: 'WriteFlowLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          Resource: `${group.arn}:*`,
        },
        {
          // In AWS's example flow-log role; here for this one group only.
          Sid: 'FindTheLogGroup',
          Effect: 'Allow',
          Action: 'logs:DescribeLogGroups',
          Resource: group.arn,
        },
      ]),
    });
    new FlowLog(this, 'flow-log', {
      vpcId,
      trafficType: 'ALL',
      logDestinationType: 'cloud-watch-logs',
      logDestination: group.arn,
      iamRoleArn: role.arn,
      maxAggregationInterval: 600,
      tags: { Name: `${prefix}-flow-log` },
      dependsOn: [policy],
    });
  }

  /** The groups whose traffic this network opens, with a construct id and a label. */
  private clients(): [string, SecurityGroup, string][] {
    return [
      ['lambda', this.lambdaSg, 'the jobs processor'],
      ['api-host', this.apiHostSg, 'the jobs API hosts'],
    ];
  }

  /** Lets the Lambda and the API hosts reach the database: egress from them, ingress on its group. */
  allowDatabase(databaseSecurityGroupId: string, port: number): void {
    for (const [who, sg, label] of this.clients()) {
      new VpcSecurityGroupEgressRule(this, `${who}-to-db`, {
        securityGroupId: sg.id,
        referencedSecurityGroupId: databaseSecurityGroupId,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
        description: 'PostgreSQL',
      });
      new VpcSecurityGroupIngressRule(this, `db-from-${who}`, {
        securityGroupId: databaseSecurityGroupId,
        referencedSecurityGroupId: sg.id,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
        description: `PostgreSQL from ${label}`,
      });
    }
  }
}
