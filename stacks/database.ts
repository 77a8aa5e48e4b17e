import { DbInstance } from '@cdktf/provider-aws/lib/db-instance/index.js';
import { DbSubnetGroup } from '@cdktf/provider-aws/lib/db-subnet-group/index.js';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group/index.js';
import { Construct } from 'constructs';
import type { DatabaseConfig } from './config/types.js';

export interface DatabaseOptions {
  prefix: string;
  vpcId: string;
  subnetIds: string[];
  config: DatabaseConfig;
}

/**
 * The PostgreSQL database the processor connects to: a new RDS instance (encrypted, private,
 * backed up, its master password generated and rotated by RDS in Secrets Manager so it never
 * appears in Terraform state), or an existing database described by the config.
 */
export class Database extends Construct {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly username: string;
  readonly securityGroupId: string;
  /** Secret holding the password (RDS's `{username,password}` JSON) or the whole URL. */
  readonly secretArn: string;

  constructor(scope: Construct, id: string, opts: DatabaseOptions) {
    super(scope, id);
    const { prefix, config } = opts;
    if ('existing' in config) {
      const e = config.existing;
      this.host = e.host;
      this.port = e.port;
      this.name = e.name;
      this.username = e.username;
      this.securityGroupId = e.securityGroupId;
      this.secretArn = e.secretArn;
      return;
    }
    const sg = new SecurityGroup(this, 'sg', {
      // A prefix, and created before the old one is destroyed: a group's description cannot be
      // changed in place, and the database must never be without one.
      namePrefix: `${prefix}-database-`,
      description: 'jobs PostgreSQL: reachable on its port from the processor and the API hosts only',
      vpcId: opts.vpcId,
      tags: { Name: `${prefix}-database` },
      lifecycle: { createBeforeDestroy: true },
    });
    const subnets = new DbSubnetGroup(this, 'subnets', {
      name: `${prefix}-database`,
      subnetIds: opts.subnetIds,
    });
    const db = new DbInstance(this, 'instance', {
      identifier: `${prefix}-db`,
      engine: 'postgres',
      engineVersion: config.engineVersion,
      instanceClass: config.instanceClass,
      allocatedStorage: config.allocatedStorageGb,
      maxAllocatedStorage: config.maxAllocatedStorageGb,
      storageType: 'gp3',
      storageEncrypted: true,
      dbName: config.name,
      username: config.username,
      manageMasterUserPassword: true,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [sg.id],
      publiclyAccessible: false,
      multiAz: config.multiAz,
      backupRetentionPeriod: config.backupRetentionDays,
      copyTagsToSnapshot: true,
      deletionProtection: config.deletionProtection,
      // Without deletion protection (qa) the instance may go without a final snapshot; with it
      // (prod), destroying it takes a deliberate change, and then leaves a final snapshot.
      skipFinalSnapshot: !config.deletionProtection,
      finalSnapshotIdentifier: config.deletionProtection ? `${prefix}-db-final` : undefined,
      autoMinorVersionUpgrade: true,
      performanceInsightsEnabled: config.performanceInsights ?? false,
      iamDatabaseAuthenticationEnabled: false,
    });
    this.host = db.address;
    this.port = 5432;
    this.name = config.name;
    this.username = config.username;
    this.securityGroupId = sg.id;
    this.secretArn = db.masterUserSecret.get(0).secretArn;
  }
}
