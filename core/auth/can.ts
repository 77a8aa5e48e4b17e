import { ForbiddenError } from '../errors.js';
import type { Permission, Principal } from './principal.js';

/**
 * The one permission check: whether the caller's token may do `permission`. Every route and
 * service asks this (or `requirePermission`); nothing checks a role.
 *
 * @example if (!can(viewer, 'job:ReadAll')) throw new NotFoundError(…)
 */
export function can(p: Principal, permission: Permission): boolean {
  return p.permissions.includes(permission);
}

/** Throws ForbiddenError (403) naming the permission unless the token holds it. */
export function requirePermission(p: Principal, permission: Permission, doing?: string): void {
  if (!can(p, permission)) {
    throw new ForbiddenError(
      doing
        ? `${doing} needs the ${permission} permission, which this token lacks`
        : `this token lacks the ${permission} permission`,
      { missing: permission },
    );
  }
}

/**
 * Cancelling or retrying a job: `job:Create`, and `job:ManageAll` when the job is another user's
 * (seeing it at all took `job:ReadAll`).
 */
export function requireJobManage(p: Principal, ownerId: string): void {
  requirePermission(p, 'job:Create');
  if (ownerId !== p.userId) requirePermission(p, 'job:ManageAll', "changing another user's job");
}
