# Entry points, all for a fresh Debian machine as root:
#   make run        - install, create the sample Maildir, one pass over it, list the register, a digest
#   make test       - install everything the suite needs (Python packages, Dovecot, Chromium …), run it all
#   make test-fast  - the pure tests only (no servers, no browser, no ffmpeg): the loop while working
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Everything the test suite needs from Debian, in one place: the IMAP server, the browser and its driver,
# Chinese fonts and the PDF tools (certificates), WeasyPrint's Pango, libarchive (.rar members).
SYSTEM_PACKAGES = dovecot-imapd openssl chromium chromium-driver fonts-noto-cjk poppler-utils \
                  libpango-1.0-0 libpangoft2-1.0-0 fontconfig libarchive13

# Every Debian package the test suite needs, in one place: IMAP server, certificates, a real browser and
# its driver, CJK fonts for screenshots, PDF tools, archive tools for .rar/.7z entries, ffmpeg for media.
SYSTEM_DEPS = dovecot-imapd openssl chromium chromium-driver fonts-noto-cjk poppler-utils \
              unrar-free libarchive-tools libarchive13 p7zip-full ffmpeg

.PHONY: run test test-fast setup system-deps clean

$(BIN)/inbox-daemon: pyproject.toml
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/inbox-daemon

<<<<<<< HEAD
system-deps:  # installs only when one of them is missing
	@test "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(SYSTEM_DEPS) 2>/dev/null | grep -c '^ii')" = "$(words $(SYSTEM_DEPS))" || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_DEPS))
=======
system-deps:
	dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES))
>>>>>>> main

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
