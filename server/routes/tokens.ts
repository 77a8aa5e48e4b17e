import express, { Router } from 'express';
import type { AuthService } from '../../core/auth/auth-service.js';
import { tokenExpiry } from '../../core/auth/token-expiry.js';
import { principalOf, requires } from '../auth.js';
import { createTokenBody } from '../schemas.js';
import { parseOr400 } from '../validate.js';

/** Management of API tokens (`token:Manage`); plus `/api/me` for anyone authenticated. */
export function tokensRouter(auth: AuthService): Router {
  const r = Router();
  r.get('/me', (_req, res) => {
    const p = principalOf(res);
    res.json({ userId: p.userId, name: p.name, role: p.role, permissions: p.permissions });
  });
  const manage = requires('token:Manage', 'managing API tokens');
  r.post('/tokens', manage, express.json({ limit: '64kb' }), async (req, res) => {
    const body = parseOr400(createTokenBody, req.body, 'body');
    res.status(201).json(
      await auth.createToken({
        userName: body.user,
        admin: body.admin,
        name: body.name,
        permissions: body.permissions,
        expiresAt: tokenExpiry(body),
        grantor: principalOf(res),
      }),
    );
  });
  r.get('/tokens', manage, async (_req, res) => {
    res.json({ items: await auth.listTokens() });
  });
  r.delete('/tokens/:id', manage, async (req, res) => {
    res.json(await auth.revokeToken(String(req.params.id)));
  });
  return r;
}
