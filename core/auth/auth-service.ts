import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { Prisma } from '../db/database.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
} from '../errors.js';
import {
  allowedFor,
  effectivePermissions,
  PERMISSIONS,
  roleOf,
  USER_PERMISSIONS,
  type Permission,
  type Principal,
  type Role,
} from './principal.js';

/** `last_used_at` is written at most this often per token, so reads do not each cost a write. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export const ADMIN_USER = 'admin';

export function hashToken(token: string): string {
  // One-shot: a fifth of createHash's cost, and every request hashes its token.
  return hash('sha256', token, 'hex');
}

/** 32 random bytes; the prefix makes a leaked token easy to recognise (and to scan for). */
export function generateToken(): string {
  return `jobs_${randomBytes(32).toString('base64url')}`;
}

export interface CreatedToken {
  id: string;
  token: string;
  userId: string;
  role: Role;
  name: string;
  permissions: Permission[];
  createdAt: string;
  expiresAt: string | null;
}

export interface TokenSummary {
  id: string;
  name: string;
  userId: string;
  userName: string;
  role: Role;
  permissions: Permission[];
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

/**
 * How long a token that authenticated is trusted without reading it again. A busy client (a CI
 * pipeline submitting thousands of jobs) costs one token read a second instead of one per
 * request. Revoking a token through this process takes effect at once (the entry is dropped);
 * through another API host, within this time.
 */
export const TOKEN_CACHE_MS = 1_000;
const TOKEN_CACHE_MAX = 10_000;

interface CachedToken {
  principal: Principal;
  expiresAt: number | null;
  readAt: number;
}

/** One cache per database client, shared by every AuthService over it (a revoke drops entries). */
const tokenCaches = new WeakMap<object, Map<string, CachedToken>>();

/** Users and API tokens. Tokens are stored as SHA-256 hashes; the secret is returned once. */
export class AuthService {
  private readonly cache: Map<string, CachedToken>;

  constructor(private readonly prisma: Prisma) {
    let cache = tokenCaches.get(prisma);
    if (!cache) tokenCaches.set(prisma, (cache = new Map()));
    this.cache = cache;
  }

  async authenticate(token: string | undefined, now = new Date()): Promise<Principal> {
    if (!token) throw new UnauthorizedError('missing bearer token: send "Authorization: Bearer <token>"');
    const hash = hashToken(token);
    const cached = this.cache.get(hash);
    if (cached && now.getTime() - cached.readAt < TOKEN_CACHE_MS) {
      if (cached.expiresAt !== null && cached.expiresAt <= now.getTime())
        throw new UnauthorizedError('token expired');
      return cached.principal;
    }
    const row = await this.prisma.apiToken.findUnique({
      where: { tokenHash: hash },
      include: { user: true },
    });
    this.cache.delete(hash);
    if (!row || row.revokedAt) throw new UnauthorizedError('invalid or revoked token');
    if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) {
      throw new UnauthorizedError('token expired');
    }
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
      await this.touch(row.id);
    }
    const permissions = effectivePermissions(row.permissions, row.user.role);
    const principal: Principal = {
      userId: row.userId,
      name: row.user.name,
      role: roleOf(permissions),
      permissions,
      tokenId: row.id,
    };
    // Oldest first out when full (a Map iterates in insertion order).
    if (this.cache.size >= TOKEN_CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hash, { principal, expiresAt: row.expiresAt?.getTime() ?? null, readAt: now.getTime() });
    return principal;
  }

  /**
   * Forgets every cached token, as if TOKEN_CACHE_MS had passed: for a test that changes token
   * rows behind the service's back.
   */
  dropCache(): void {
    this.cache.clear();
  }

  /** Drops the cached entries of a token (revoked), so this process refuses it at once. */
  private forget(tokenId: string): void {
    for (const [hash, entry] of this.cache) if (entry.principal.tokenId === tokenId) this.cache.delete(hash);
  }

  /**
   * Records that the token was used. Conditional in SQL too, so API hosts that read the same old
   * value write once between them. Bookkeeping only: a failure here never refuses the request.
   */
  private async touch(id: string): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE api_tokens SET last_used_at = now()
      WHERE id = ${id}::uuid
        AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`.catch(() => {});
  }

  /**
   * Of the tokens `ids`, those that still authenticate (exist, not revoked, not expired): one
   * query for any number of them. Open event streams re-check their tokens with it (see
   * TokenValidity).
   */
  async activeTokenIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.prisma.apiToken.findMany({
      where: {
        id: { in: ids },
        revokedAt: null,
        OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }],
      },
      select: { id: true },
    });
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Creates a token for user `userName`, creating the user if needed. `admin` makes (or keeps)
   * the user an admin; it never demotes one. `permissions` default to every permission with
   * `admin`, else to `job:Create` and `job:Read`; an admin permission for a user who is not an
   * admin is a ValidationError. With `grantor` (the caller, through the API), the new token may
   * hold only permissions the grantor holds (ForbiddenError otherwise), so `token:Manage` cannot
   * mint more power than its holder has.
   */
  async createToken(opts: {
    userName: string;
    admin?: boolean;
    name?: string;
    permissions?: Permission[];
    token?: string;
    expiresAt?: Date;
    grantor?: Principal;
  }): Promise<CreatedToken> {
    const userName = opts.userName.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/.test(userName)) {
      throw new ValidationError('user must be 1-100 characters: letters, digits, ".", "_", "@", "-"');
    }
    const permissions = [...new Set(opts.permissions ?? (opts.admin ? PERMISSIONS : USER_PERMISSIONS))];
    if (opts.grantor) {
      const beyond = permissions.filter((p) => !opts.grantor!.permissions.includes(p));
      if (beyond.length > 0) {
        throw new ForbiddenError(
          `a token can grant only permissions it holds; this one lacks ${beyond.join(', ')}`,
          { missing: beyond },
        );
      }
    }
    const token = opts.token ?? generateToken();
    const id = randomUUID();
    const role: Role = opts.admin ? 'admin' : 'user';
    return this.prisma.$transaction(async (tx) => {
      const user = await tx.user.upsert({
        where: { name: userName },
        create: { id: randomUUID(), name: userName, role },
        update: opts.admin ? { role: 'admin' } : {},
      });
      const allowed = allowedFor(user.role);
      const refused = permissions.filter((p) => !allowed.includes(p));
      if (refused.length > 0) {
        // Thrown inside the transaction: a user created just now is rolled back with it.
        throw new ValidationError(
          `${refused.join(', ')} ${refused.length > 1 ? 'are admin permissions' : 'is an admin permission'}; ` +
            `user ${userName} is not an admin (create the token with admin: true / --admin)`,
          { permissions: refused },
        );
      }
      const row = await tx.apiToken
        .create({
          data: {
            id,
            userId: user.id,
            name: opts.name ?? `${userName} token`,
            tokenHash: hashToken(token),
            permissions,
            expiresAt: opts.expiresAt ?? null,
          },
        })
        .catch((err: { code?: string }) => {
          if (err.code === 'P2002') throw new ConflictError('that token already exists');
          throw err;
        });
      const effective = effectivePermissions(permissions, user.role);
      return {
        id: row.id,
        token,
        userId: user.id,
        role: roleOf(effective),
        name: row.name,
        permissions: effective,
        createdAt: row.createdAt.toISOString(),
        expiresAt: row.expiresAt?.toISOString() ?? null,
      };
    });
  }

  async listTokens(): Promise<TokenSummary[]> {
    const rows = await this.prisma.apiToken.findMany({
      include: { user: true },
      orderBy: { createdAt: 'desc' },
    });
    return rows.map((r) => toSummary(r));
  }

  async revokeToken(id: string): Promise<TokenSummary> {
    const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
    const row = isUuid
      ? await this.prisma.apiToken.findUnique({ where: { id }, include: { user: true } })
      : null;
    if (!row) throw new NotFoundError(`token ${id} not found`);
    const updated = row.revokedAt
      ? row
      : await this.prisma.apiToken.update({
          where: { id },
          data: { revokedAt: new Date() },
          include: { user: true },
        });
    this.forget(id);
    return toSummary(updated);
  }

  /**
   * First start: when there are no users yet, creates the `admin` user and its token
   * (`JOBS_ADMIN_TOKEN` when set). Returns the new token, or undefined on later starts.
   */
  async bootstrapAdmin(token?: string): Promise<CreatedToken | undefined> {
    if ((await this.prisma.user.count()) > 0) return undefined;
    return this.createToken({ userName: ADMIN_USER, admin: true, name: 'bootstrap admin token', token });
  }
}

function toSummary(r: {
  id: string;
  name: string;
  userId: string;
  permissions: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  user: { name: string; role: Role };
}): TokenSummary {
  const permissions = effectivePermissions(r.permissions, r.user.role);
  return {
    id: r.id,
    name: r.name,
    userId: r.userId,
    userName: r.user.name,
    role: roleOf(permissions),
    permissions,
    createdAt: r.createdAt.toISOString(),
    lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
    expiresAt: r.expiresAt?.toISOString() ?? null,
    revokedAt: r.revokedAt?.toISOString() ?? null,
  };
}
