import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Prisma } from '../db/database.js';
import { ConflictError, NotFoundError, UnauthorizedError, ValidationError } from '../errors.js';
import { PERMISSIONS, type Permission, type Principal, type Role } from './principal.js';

export const ADMIN_USER = 'admin';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
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
  revokedAt: string | null;
}

/** Users and API tokens. Tokens are stored as SHA-256 hashes; the secret is returned once. */
export class AuthService {
  constructor(private readonly prisma: Prisma) {}

  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token) throw new UnauthorizedError('missing bearer token: send "Authorization: Bearer <token>"');
    const row = await this.prisma.apiToken.findUnique({
      where: { tokenHash: hashToken(token) },
      include: { user: true },
    });
    if (!row || row.revokedAt) throw new UnauthorizedError('invalid or revoked token');
    return {
      userId: row.userId,
      name: row.user.name,
      role: row.user.role,
      permissions: row.permissions.filter((p): p is Permission =>
        (PERMISSIONS as readonly string[]).includes(p),
      ),
      tokenId: row.id,
    };
  }

  /**
   * Of the tokens `ids`, those that still authenticate (exist, not revoked): one query for any
   * number of them. Open event streams re-check their tokens with it (see TokenValidity).
   */
  async activeTokenIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.prisma.apiToken.findMany({
      where: { id: { in: ids }, revokedAt: null },
      select: { id: true },
    });
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Creates a token for user `userName`, creating the user if needed. `admin` makes (or keeps)
   * the user an admin; it never demotes one.
   */
  async createToken(opts: {
    userName: string;
    admin?: boolean;
    name?: string;
    permissions?: Permission[];
    token?: string;
  }): Promise<CreatedToken> {
    const userName = opts.userName.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/.test(userName)) {
      throw new ValidationError('user must be 1-100 characters: letters, digits, ".", "_", "@", "-"');
    }
    const permissions = [...new Set(opts.permissions ?? PERMISSIONS)];
    const token = opts.token ?? generateToken();
    const id = randomUUID();
    const role: Role = opts.admin ? 'admin' : 'user';
    return this.prisma.$transaction(async (tx) => {
      const user = await tx.user.upsert({
        where: { name: userName },
        create: { id: randomUUID(), name: userName, role },
        update: opts.admin ? { role: 'admin' } : {},
      });
      const row = await tx.apiToken
        .create({
          data: {
            id,
            userId: user.id,
            name: opts.name ?? `${userName} token`,
            tokenHash: hashToken(token),
            permissions,
          },
        })
        .catch((err: { code?: string }) => {
          if (err.code === 'P2002') throw new ConflictError('that token already exists');
          throw err;
        });
      return {
        id: row.id,
        token,
        userId: user.id,
        role: user.role,
        name: row.name,
        permissions,
        createdAt: row.createdAt.toISOString(),
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
  revokedAt: Date | null;
  user: { name: string; role: Role };
}): TokenSummary {
  return {
    id: r.id,
    name: r.name,
    userId: r.userId,
    userName: r.user.name,
    role: r.user.role,
    permissions: r.permissions as Permission[],
    createdAt: r.createdAt.toISOString(),
    lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
    revokedAt: r.revokedAt?.toISOString() ?? null,
  };
}
