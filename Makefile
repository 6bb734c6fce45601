# The two commands of the README: `make demo` (main job, embedded default) and `make test`.
# Both run the idempotent set-up first, so each works on a fresh clone.
VENV := .venv/bin
APE  := $(VENV)/ape

.PHONY: setup setup-ipfs setup-bitcoin setup-browser demo test docs bench bench-gas bench-hashing bench-merkle bench-training bench-startup bench-bitcoin bench-ipfs bench-scale bench-anchoring bench-outbox bench-audit clean

setup:
	@bash tools/setup.sh

# The embedded IPFS node (js-ipfs) in its own folder; the tests start it, so `test` needs it.
setup-ipfs:
	@bash tools/ipfs-node/setup.sh

setup-bitcoin: setup
	@bash tools/bitcoin-node/setup.sh

# Headless Chromium (Debian's) for the HTML report's browser test; only the tests need it.
setup-browser:
	@bash tools/setup-browser.sh

# The documentation site (mkdocs.yml) into site/, offline; --strict: a broken link, a missing
# reference or an undescribed PROVENANCE_* variable fails the build.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/mkdocs build --strict --site-dir site

demo: setup
	$(VENV)/provenance train --epochs 3
	$(VENV)/provenance verify latest --brief
	$(VENV)/provenance audit latest --segments 2

# The suite keeps Ape's data (its dependency cache, test keystores) in the repo, never in your ~/.ape.
test: export APE_DATA_FOLDER := $(CURDIR)/.provenance/ape
test: setup setup-ipfs setup-bitcoin setup-browser
	$(APE) test -q
	$(VENV)/pytest -p no:ape_test --nbmake notebooks -q  # the walkthrough, executed (ape's plugin knows no notebook items)
	$(APE) test tests/contracts -q --network ethereum:local:foundry
	$(APE) run deploy --network ethereum:local:test --account TEST::0
	bash tools/install-check.sh  # the package alone, without Ape, with numpy 2 / click 8.5 / web3 8, in a fresh venv: the demo runs
	$(MAKE) --no-print-directory docs

bench: bench-gas bench-hashing bench-merkle bench-training bench-startup bench-bitcoin bench-ipfs bench-scale bench-anchoring bench-outbox bench-audit

bench-gas: setup
	$(VENV)/python bench/gas.py

bench-hashing: setup
	$(VENV)/python bench/hashing.py

bench-training: setup
	$(VENV)/python bench/training.py

bench-startup: setup
	$(VENV)/python bench/startup.py

bench-bitcoin: setup-bitcoin
	$(VENV)/python bench/bitcoin.py

bench-scale: setup
	$(VENV)/python bench/scale.py

bench-outbox: setup
	$(VENV)/python bench/outbox.py

bench-merkle: setup
	$(VENV)/python bench/merkle.py

bench-ipfs: setup setup-ipfs
	$(VENV)/python bench/ipfs.py

bench-anchoring: setup
	$(VENV)/python bench/anchoring.py

bench-audit: setup
	$(VENV)/python bench/audit.py

clean:
	$(VENV)/provenance chain stop || true
	$(VENV)/provenance ipfs node stop || true
	$(VENV)/provenance bitcoin node stop || true
	rm -rf .build contracts/.cache site
