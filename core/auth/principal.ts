/** The permissions a token can carry (its scopes). */
export const PERMISSIONS = ['job:Create', 'job:Read'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export type Role = 'user' | 'admin';

/** Who is calling: resolved from a bearer token on every request. */
export interface Principal {
  userId: string;
  name: string;
  role: Role;
  permissions: Permission[];
  tokenId: string;
}
