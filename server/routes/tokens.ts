import type { AuthService } from '../../core/auth/auth-service.js';
import { tokenExpiry } from '../../core/auth/token-expiry.js';
import { defineRoute, type Route } from '../route.js';
import {
  createdTokenResponse,
  createTokenBody,
  meResponse,
  tokenListResponse,
  tokenResponse,
} from '../schemas.js';
import { TOKEN_ID } from './params.js';

const MANAGE = { name: 'token:Manage', doing: 'managing API tokens' } as const;

/** Management of API tokens (`token:Manage`); plus `/api/me` for anyone authenticated. */
export function tokensRoutes(auth: AuthService): Route[] {
  const getMe = defineRoute({
    method: 'get',
    path: '/api/me',
    operationId: 'getMe',
    tag: 'tokens',
    auth: 'bearer',
    summary: 'Who the token belongs to',
    responses: { 200: { description: 'the caller', schema: meResponse } },
    handler: ({ principal: p }) => ({
      userId: p.userId,
      name: p.name,
      role: p.role,
      permissions: p.permissions,
    }),
  });

  const createToken = defineRoute({
    method: 'post',
    path: '/api/tokens',
    operationId: 'createToken',
    tag: 'tokens',
    auth: 'bearer',
    permission: MANAGE,
    summary: 'Create an API token (token:Manage)',
    description:
      'The user is created if new. `admin: true` makes the user an admin and, unless `permissions` narrows it, gives the token every permission. Admin permissions (job:ReadAll, job:ManageAll, token:Manage, dlq:Manage) for a user who is not an admin answer 400; permissions the calling token lacks answer 403. `expiresIn` (`90d`) or `expiresAt` sets an expiry; without them the token never expires. Without `name`, the token is named `<user> token`.',
    json: { schema: createTokenBody, limit: '64kb' },
    responses: {
      201: { description: 'the token, with its secret (shown once)', schema: createdTokenResponse },
    },
    errors: [400, 403, 413, 415],
    handler: ({ body, principal }) =>
      auth.createToken({
        userName: body.user,
        admin: body.admin,
        name: body.name,
        permissions: body.permissions,
        expiresAt: tokenExpiry(body),
        grantor: principal,
      }),
  });

  const listTokens = defineRoute({
    method: 'get',
    path: '/api/tokens',
    operationId: 'listTokens',
    tag: 'tokens',
    auth: 'bearer',
    permission: MANAGE,
    summary: 'List API tokens (token:Manage)',
    responses: { 200: { description: 'tokens (never their secrets)', schema: tokenListResponse } },
    errors: [403],
    handler: async () => ({ items: await auth.listTokens() }),
  });

  const revokeToken = defineRoute({
    method: 'delete',
    path: '/api/tokens/:id',
    operationId: 'revokeToken',
    tag: 'tokens',
    auth: 'bearer',
    permission: MANAGE,
    summary: 'Revoke an API token (token:Manage)',
    params: { id: TOKEN_ID },
    responses: { 200: { description: 'the revoked token', schema: tokenResponse } },
    errors: [403, 404],
    handler: ({ req }) => auth.revokeToken(String(req.params.id)),
  });
  return [getMe, createToken, listTokens, revokeToken];
}
