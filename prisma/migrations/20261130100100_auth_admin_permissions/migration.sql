-- Admin power is now a permission of the token (job:ReadAll, job:ManageAll, token:Manage,
-- dlq:Manage), no longer the user's role alone. Tokens of admin users that held the old full set
-- (job:Create and job:Read: what every admin token was created with, the bootstrap token included)
-- keep the powers they had; tokens narrowed before (e.g. job:Read only) stay narrow.
UPDATE "api_tokens" t
SET "permissions" = ARRAY['job:Create', 'job:Read', 'job:ReadAll', 'job:ManageAll', 'token:Manage', 'dlq:Manage']
FROM "users" u
WHERE u."id" = t."user_id"
  AND u."role" = 'admin'
  AND t."permissions" @> ARRAY['job:Create', 'job:Read']
  AND t."permissions" <@ ARRAY['job:Create', 'job:Read'];
