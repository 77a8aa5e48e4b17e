import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuthService, TOKEN_CACHE_MS } from '../../../core/auth/auth-service.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/db.js';

describe('the token cache', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase('pglite');
  });
  afterAll(async () => {
    await t.close();
  });

  it('trusts a token for TOKEN_CACHE_MS without reading it, and refuses a revoked one at once', async () => {
    const auth = new AuthService(t.db.prisma);
    const created = await auth.createToken({ userName: 'alice' });
    const t0 = new Date();
    const first = await auth.authenticate(created.token, t0);
    expect(first).toMatchObject({ tokenId: created.id, name: 'alice' });

    // Changed behind the service's back: within the cache's time the row is not read again…
    await t.db.prisma.$executeRaw`UPDATE api_tokens SET revoked_at = now() WHERE id = ${created.id}::uuid`;
    const soon = new Date(t0.getTime() + TOKEN_CACHE_MS - 1);
    expect(await auth.authenticate(created.token, soon)).toEqual(first);
    // …after it, it is.
    const later = new Date(t0.getTime() + TOKEN_CACHE_MS);
    await expect(auth.authenticate(created.token, later)).rejects.toThrow('invalid or revoked token');

    // Revoked through any service over the same database client: refused at once.
    const other = await auth.createToken({ userName: 'bob' });
    await auth.authenticate(other.token);
    await new AuthService(t.db.prisma).revokeToken(other.id);
    await expect(auth.authenticate(other.token)).rejects.toThrow('invalid or revoked token');
  });

  it('still refuses a cached token once its expiry passes', async () => {
    const auth = new AuthService(t.db.prisma);
    const expiresAt = new Date(Date.now() + 60_000);
    const created = await auth.createToken({ userName: 'carol', expiresAt });
    const before = new Date(expiresAt.getTime() - 500);
    await auth.authenticate(created.token, before);
    await expect(auth.authenticate(created.token, new Date(expiresAt.getTime() + 1))).rejects.toThrow(
      'token expired',
    );
  });
});
