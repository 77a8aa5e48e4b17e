import type { RequestHandler, Response } from 'express';
import type { AuthService } from '../core/auth/auth-service.js';
import { requirePermission } from '../core/auth/can.js';
import type { Permission, Principal } from '../core/auth/principal.js';

/** Resolves the bearer token into `res.locals.principal`, or answers 401. */
export function authenticate(auth: AuthService): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    res.locals.principal = await auth.authenticate(match?.[1]);
    next();
  };
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

/** Answers 403 naming the permission unless the caller's token holds it (an admin route's gate). */
export function requires(permission: Permission, doing?: string): RequestHandler {
  return (_req, res, next) => {
    requirePermission(principalOf(res), permission, doing);
    next();
  };
}
