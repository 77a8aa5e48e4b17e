#!/usr/bin/env bash
# Submits FILE as a job of TYPE, waits for its end, and saves the job and its log lines for the
# pipeline's artifacts; exits like the CLI: 0 when the job COMPLETED, 1 when it FAILED or was
# CANCELLED (or the API could not be reached), 2 on a usage error. The CI examples beside it
# (GitHub Actions, GitLab CI) call this script; so does the project's test of them.
#
#   JOBS_API_URL=https://jobs.example.com JOBS_TOKEN=… examples/ci/submit-and-wait.sh FILE TYPE [OUT_DIR] [-- SUBMIT_FLAGS…]
#
# OUT_DIR (default jobs-artifacts) receives job.json (the job as it ended) and logs.json.
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 FILE TYPE [OUT_DIR] [-- SUBMIT_FLAGS…]" >&2
  exit 2
fi
file=$1
type=$2
shift 2
out=jobs-artifacts
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  out=$1
  shift
fi
[ "${1-}" = "--" ] && shift
mkdir -p "$out"

# The job as it ended, on stdout (--json); the CLI's exit code is the job's outcome.
jobsctl submit "$file" --type "$type" --wait --json "$@" >"$out/job.json"
status=$?

id=$(node -e 'try { process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).id ?? "") } catch {}' "$out/job.json")
if [ -n "$id" ]; then
  jobsctl logs "$id" --json >"$out/logs.json" || echo "could not fetch the logs of job $id" >&2
  echo "job $id: $(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(j.status + (j.error ? ": " + j.error : ""))' "$out/job.json")"
else
  # No job: the submit itself failed; its one-sentence error is on stderr (or in job.json with --json).
  cat "$out/job.json" >&2
  echo >&2
fi
exit $status
