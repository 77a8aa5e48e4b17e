/** The encryption each S3BlobStore configuration must request: [name, store options, SSE params]. */
export const SSE_CASES: [string, { kmsKeyId?: string }, Record<string, unknown>][] = [
  ['SSE-S3 by default', {}, { ServerSideEncryption: 'AES256' }],
  [
    'SSE-KMS with kmsKeyId',
    { kmsKeyId: 'arn:aws:kms:us-east-1:000000000000:key/k1' },
    {
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'arn:aws:kms:us-east-1:000000000000:key/k1',
      BucketKeyEnabled: true,
    },
  ],
];
