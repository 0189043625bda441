# The two commands of the README: `make run` and `make test`. Each creates .venv/ with Python 3.11
# and installs what is missing first (a stamp file skips the install when nothing changed).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-windows-shaped lint bench package package-test deb deb-test nsis nsis-check nsis-wine-test azure-venv azure-test \
        clean constraints screenshots

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "PredictML needs Python 3.11 (PyCaret 3.3.2 does not run on " + sys.version.split()[0] + ")"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# constraints.txt pins every transitive dependency, so a fresh machine gets the set CI tested.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,package]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/predictml

# The gates CI runs (.ci/run calls make test): the suite, the import contracts, ruff, mypy (strict
# on core, server and worker: pyproject.toml [tool.mypy]).
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check predictml_desktop tests bench
	$(VENV)/bin/mypy predictml_desktop/core predictml_desktop/server predictml_desktop/worker

# Windows-shaped: the tests of training, the worker, the fitting pool, the service and the command line
# again, spawn only (a fork fails), under a path with spaces and non-ASCII letters, CRLF files; then the
# self-test from such a folder. See tests/conftest.py.
SHAPED_ROOT := $(CURDIR)/build/Données d'équipe
SHAPED_TESTS := tests/core/test_training_pool.py tests/core/test_runner.py tests/core/test_training_worker.py \
	tests/core/test_training_cli.py tests/server/test_service_process.py tests/test_working_folder.py

test-windows-shaped: $(STAMP)
	rm -rf "$(SHAPED_ROOT)" && mkdir -p "$(SHAPED_ROOT)"
	PYTHONPATH="$(CURDIR)/tests/windows_shaped" PREDICTML_WINDOWS_SHAPED=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider \
		--basetemp "$(SHAPED_ROOT)/pytest" $(SHAPED_TESTS)
	PYTHONPATH="$(CURDIR)/tests/windows_shaped" TMPDIR="$(SHAPED_ROOT)" QT_QPA_PLATFORM=offscreen $(VENV)/bin/predictml --self-test > /dev/null
	rm -rf "$(SHAPED_ROOT)"

lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check predictml_desktop tests bench
	$(VENV)/bin/mypy predictml_desktop/core predictml_desktop/server predictml_desktop/worker

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/startup.py

# Render every view offscreen with the sample data (real training of a few models) into docs/screenshots/.
screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m predictml_desktop.ui.screenshots docs/screenshots

# The packaged app (PyInstaller one-folder build + archive) and its frozen self-test.
package: $(STAMP)
	$(PY) packaging/package.py build

package-test: $(STAMP)
	$(PY) packaging/package.py build-and-test

# The Linux installer: dist/PredictML_<version>_amd64.deb from dist/PredictML/ (built first if missing).
deb: $(STAMP)
	$(PY) packaging/deb.py build

# As root on Debian/Ubuntu (CI): install the previous version, make data as a test user, upgrade,
# self-test as that user, remove; checks nothing is left and the data is untouched; cleans up.
deb-test: $(STAMP)
	$(PY) packaging/deb.py install-test

# The Windows installer (packaging/windows/predictml.nsi; needs makensis). On Windows `nsis` makes
# dist/PredictML-<version>-setup.exe; on Linux `nsis-check` compiles the script with the Linux folder
# standing in, and `nsis-wine-test` installs, upgrades and uninstalls a stand-in app under Wine.
nsis: $(STAMP)
	$(PY) packaging/nsis.py

nsis-check: $(STAMP)
	@test -d dist/PredictML || $(PY) packaging/package.py build
	$(PY) packaging/nsis.py --check

nsis-wine-test: $(STAMP)
	$(PY) packaging/nsis.py --wine-test

# The Azure bundle under Azure's own inference server and SDK. They cannot share .venv with the app
# (packaging/azure-test/requirements.txt says why), so they get .venv-azure, pinned by its own file.
AZURE_VENV := .venv-azure
AZURE_STAMP := $(AZURE_VENV)/.installed
$(AZURE_STAMP): packaging/azure-test/requirements.txt packaging/azure-test/constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "the Azure test environment needs Python 3.11"'
	test -x $(AZURE_VENV)/bin/python || $(PYTHON) -m venv $(AZURE_VENV)
	$(AZURE_VENV)/bin/python -m pip install --quiet -c packaging/azure-test/constraints.txt \
		-r packaging/azure-test/requirements.txt
	@touch $(AZURE_STAMP)

azure-venv: $(AZURE_STAMP)

azure-test: $(STAMP) $(AZURE_STAMP)
	PREDICTML_AZURE_VENV=$(AZURE_VENV) QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m azure tests/server/test_azure_server.py

clean:
	rm -rf build dist .pytest_cache

# Re-pin every transitive dependency after a change to pyproject.toml's own pins.
constraints: $(PY)
	$(PY) -m pip install --quiet -e '.[dev,package,bench]'
	(echo "# Every transitive dependency, pinned to the set CI tests (generated by: make constraints)."; \
	 $(PY) -m pip freeze --exclude-editable | grep -vi '^predictml') > constraints.txt
