# The two commands of the README: `make demo` (main job, embedded default) and `make test`.
# Both run the idempotent set-up first, so each works on a fresh clone.
VENV := .venv/bin
APE  := $(VENV)/ape

.PHONY: setup demo test test-contracts-anvil bench bench-gas bench-merkle clean

setup:
	@bash tools/setup.sh

demo: setup
	$(VENV)/provenance demo

test: setup
	$(APE) test -q
	$(APE) test tests/contracts -q --network ethereum:local:foundry
	$(APE) run deploy --network ethereum:local:test --account TEST::0

bench: bench-gas bench-merkle

bench-gas: setup
	$(VENV)/python bench/gas.py

bench-merkle: setup
	$(VENV)/python bench/merkle.py

clean:
	$(VENV)/provenance chain stop || true
	rm -rf .build contracts/.cache
