-- AlterTable: a direct upload's SHA-256 may be declared when it is completed instead of when it
-- begins (the CLI hashes the file while it sends it, rather than reading it once more first);
-- null until then. Every COMPLETED upload has one.
ALTER TABLE "uploads" ALTER COLUMN "sha256" DROP NOT NULL;
