# Two commands on a fresh machine: `make run` (set up, then the main job on the bundled speech) and
# `make test` (set up, then the test suite). Both create .venv when it is missing and are idempotent.
.PHONY: setup run test test-all report nemo-fixture

setup:
	@bash tools/setup.sh

run: setup
	@bash tools/run.sh

test: setup
	QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -m "not slow" -p no:cacheprovider

test-all: setup
	QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -p no:cacheprovider

report: setup
	.venv/bin/lfsc-eval run --out runs/bundled --keep-audio --jobs 2

nemo-fixture:
	bash tools/nemo_env.sh && .venv-nemo/bin/python tools/make_nemo_fixture.py
