-- The API's request rate limit (server/rate-limit.ts), shared by every API host: one row per client
-- key (a token's id, or an IP address for requests without one), holding the hits of its current
-- fixed window. Each request is one upsert of its key's row. UNLOGGED: a count lost in a crash only
-- lets a client a few more requests for one window, and it spares a WAL write per request.
CREATE UNLOGGED TABLE "rate_limits" (
    "key" TEXT NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "hits" INTEGER NOT NULL,

    CONSTRAINT "rate_limits_pkey" PRIMARY KEY ("key")
);
