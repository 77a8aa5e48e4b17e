# Thin wrappers around the npm scripts, for muscle memory. `make help` lists them.
.PHONY: help install build start test lint format typecheck ci bench clean

help:
	@echo "make install    npm ci (also generates the Prisma client and compiles)"
	@echo "make build      prisma generate + tsc"
	@echo "make start      jobs server (embedded, ./.jobs)"
	@echo "make test       the test suite (npm test)"
	@echo "make lint       eslint + prettier --check"
	@echo "make format     prettier --write"
	@echo "make typecheck  tsc over sources and tests"
	@echo "make ci         what CI runs (.ci/run)"
	@echo "make bench      bench/ingest-memory (1 GiB upload + import, peak RSS)"
	@echo "make clean      remove dist/ and the generated Prisma client"

install:
	npm ci
build:
	npm run build
start:
	npm start
test:
	npm test
lint:
	npm run lint
format:
	npm run format
typecheck:
	npm run typecheck
ci:
	bash .ci/run
bench:
	npm run bench:ingest-memory
clean:
	rm -rf dist core/db/generated
