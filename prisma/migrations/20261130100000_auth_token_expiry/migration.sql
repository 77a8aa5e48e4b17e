-- AlterTable: an optional expiry per API token (`jobs tokens create --expires 90d`). NULL never
-- expires; past it, authentication answers 401 "token expired".
ALTER TABLE "api_tokens" ADD COLUMN "expires_at" TIMESTAMPTZ(3);
