# r3d_ros: the two newcomer commands are `make demo` and `make test`.
# Every target runs the idempotent set-up first, so each works on a fresh clone.

ENV := scripts/with-env
PYTEST_ARGS ?=

.PHONY: setup demo test lint lock clean

setup:
	@scripts/setup.sh

demo: setup
	@$(ENV) python -m r3d_ros.demo

test: setup lint
	@$(ENV) python -m pytest $(PYTEST_ARGS)

lint:
	@$(ENV) ruff check .
	@$(ENV) ruff format --check .

lock:
	@.venv/bin/python scripts/lock.py .venv/bin/python requirements.lock

clean:
	rm -rf build install log
