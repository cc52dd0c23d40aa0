#!/usr/bin/env bash
# Install the Debian packages the integration tests use, from Debian only:
#   chromium, chromium-driver   headless browser for the console's browser tests
#   postgresql                  initdb/pg_ctl/postgres for the tests on PostgreSQL
# A quick no-op when all are there; otherwise one `apt-get update` and one install of
# what is missing. The test fixtures start their own servers; no service is enabled here.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y "${missing[@]}"
