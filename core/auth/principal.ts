/**
 * The permissions a token can carry (its scopes). `job:Create` and `job:Read` are a user's; the
 * others are admin powers, each on its own so a token holds only what it needs (a reporting
 * token reads every job but changes nothing; an operator's redrives the DLQ but mints no tokens).
 *
 * - `job:Create`: submit jobs (and direct uploads); cancel and retry one's own jobs.
 * - `job:Read`: read one's own jobs, their logs, lists and live streams.
 * - `job:ReadAll`: with `job:Read`, read every user's jobs (`all=true`, another user's job).
 * - `job:ManageAll`: with `job:Create`, cancel and retry every user's jobs (that it can see).
 * - `token:Manage`: create, list and revoke API tokens (granting at most its own permissions).
 * - `dlq:Manage`: list and redrive the dead letters.
 */
export const USER_PERMISSIONS = ['job:Create', 'job:Read'] as const;
export const ADMIN_PERMISSIONS = ['job:ReadAll', 'job:ManageAll', 'token:Manage', 'dlq:Manage'] as const;
export const PERMISSIONS = [...USER_PERMISSIONS, ...ADMIN_PERMISSIONS] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * A user's role is the ceiling of their tokens' powers: a `user` can hold only the user
 * permissions, an `admin` any. A principal's role is its token's: `admin` when the token holds an
 * admin permission, else `user` (a `job:Read` token of the admin user acts as a user).
 */
export type Role = 'user' | 'admin';

/** Who is calling: resolved from a bearer token on every request. */
export interface Principal {
  userId: string;
  name: string;
  /** The token's role (see `roleOf`), not only the user's. */
  role: Role;
  /** The token's effective permissions: its own, within what its user's role allows. */
  permissions: Permission[];
  tokenId: string;
}

export function isPermission(p: string): p is Permission {
  return (PERMISSIONS as readonly string[]).includes(p);
}

export function isAdminPermission(p: Permission): boolean {
  return (ADMIN_PERMISSIONS as readonly string[]).includes(p);
}

/** What a role allows a token to hold. */
export function allowedFor(role: Role): readonly Permission[] {
  return role === 'admin' ? PERMISSIONS : USER_PERMISSIONS;
}

/** A token's effective permissions: those it was given ∩ what its user's role allows. */
export function effectivePermissions(granted: readonly string[], userRole: Role): Permission[] {
  const allowed = allowedFor(userRole);
  return PERMISSIONS.filter((p) => granted.includes(p) && allowed.includes(p));
}

/** `admin` when the permissions include an admin power, else `user`. */
export function roleOf(permissions: readonly Permission[]): Role {
  return permissions.some(isAdminPermission) ? 'admin' : 'user';
}
