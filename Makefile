# Entry points, all for a fresh Debian machine as root:
#   make run        - install, create the sample Maildir, one pass over it, list the register, a digest
#   make test       - install everything the suite needs (Python packages, Dovecot, Chromium …), run it all
#   make test-fast  - the pure tests only (no servers, no browser, no ffmpeg): the loop while working
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Every Debian package the test suite needs, in one place: the IMAP server, certificates, a real browser
# and its driver, Chinese fonts for screenshots and certificates, the PDF tools, WeasyPrint's Pango,
# archive tools for .rar/.7z entries, ffmpeg for media.
SYSTEM_PACKAGES = dovecot-imapd openssl chromium chromium-driver fonts-noto-cjk poppler-utils \
                  libpango-1.0-0 libpangoft2-1.0-0 fontconfig libarchive13 unrar-free libarchive-tools \
                  p7zip-full ffmpeg

.PHONY: run test test-fast setup system-deps clean

$(BIN)/inbox-daemon: pyproject.toml
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/inbox-daemon

system-deps:  # installs only when one of them is missing
	@test "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(SYSTEM_PACKAGES) 2>/dev/null | grep -c '^ii')" = "$(words $(SYSTEM_PACKAGES))" || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES))

run: setup
	$(BIN)/inbox-daemon samples
	$(BIN)/inbox-daemon poll --once
	$(BIN)/inbox-daemon list
	$(BIN)/inbox-daemon digest --date 2022-09-26

test: setup system-deps
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not integration" -q

clean:
	rm -rf $(VENV) data build *.egg-info
