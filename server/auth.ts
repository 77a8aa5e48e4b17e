import type { RequestHandler, Response } from 'express';
import type { AuthService } from '../core/auth/auth-service.js';
import type { Principal } from '../core/auth/principal.js';
import { ForbiddenError } from '../core/errors.js';

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

export const requireAdmin: RequestHandler = (_req, res, next) => {
  if (principalOf(res).role !== 'admin') throw new ForbiddenError('this needs an admin token');
  next();
};
