// Prisma CLI configuration (used by `prisma generate`). The runtime never reads this file: it
// builds its client from configuration in core/config.ts with a driver adapter.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
