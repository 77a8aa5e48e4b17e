import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls/index.js';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js';
import type { Construct } from 'constructs';

/**
 * Closes a bucket to the public and to ACLs (owner-enforced: access is granted by bucket
 * policies only). Returns the public access block, which a bucket policy must depend on.
 */
export function lockDownBucket(scope: Construct, bucket: string): S3BucketPublicAccessBlock {
  const publicAccessBlock = new S3BucketPublicAccessBlock(scope, 'public-access-block', {
    bucket,
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
  });
  new S3BucketOwnershipControls(scope, 'ownership', {
    bucket,
    rule: { objectOwnership: 'BucketOwnerEnforced' },
  });
  return publicAccessBlock;
}
