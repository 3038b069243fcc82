# Two entry points, both for a fresh Debian machine as root:
#   make run   - install, create the sample Maildir, one pass over it, list the register
#   make test  - install (Dovecot included), run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test test-fast setup system-deps clean

$(BIN)/inbox-daemon: pyproject.toml
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/inbox-daemon

system-deps:
	command -v dovecot >/dev/null && command -v openssl >/dev/null && command -v chromium >/dev/null && \
	  command -v chromedriver >/dev/null && ldconfig -p | grep -q libarchive.so.13 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd openssl \
	   chromium chromium-driver fonts-noto-cjk libarchive13)

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
