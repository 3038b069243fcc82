# Two entry points, both for a fresh Debian machine as root:
#   make run   - install, create the sample Maildir, one pass over it, list the register
#   make test  - install (Dovecot included), run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Everything the test suite needs from Debian, in one place: the IMAP server, the browser and its driver,
# Chinese fonts and the PDF tools (certificates), WeasyPrint's Pango, libarchive (.rar members).
SYSTEM_PACKAGES = dovecot-imapd openssl chromium chromium-driver fonts-noto-cjk poppler-utils \
                  libpango-1.0-0 libpangoft2-1.0-0 fontconfig libarchive13

.PHONY: run test test-fast setup system-deps clean

$(BIN)/inbox-daemon: pyproject.toml
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/inbox-daemon

system-deps:
	dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES))

run: setup
	$(BIN)/inbox-daemon samples
	$(BIN)/inbox-daemon poll --once
	$(BIN)/inbox-daemon list
	$(BIN)/inbox-daemon digest --date 2022-09-26

test: setup system-deps
	$(BIN)/python -m pytest

# Pure tests only: no servers, no browser, no ffmpeg (the loop to use while working).
test-fast: setup
	$(BIN)/python -m pytest -m "not integration" -q

clean:
	rm -rf $(VENV) data build *.egg-info
