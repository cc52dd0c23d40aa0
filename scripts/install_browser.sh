#!/usr/bin/env bash
# Install Debian's headless Chromium and its WebDriver for the console's browser tests.
# Quick no-op when both are already there; never downloads a browser from elsewhere.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium chromium-driver
