#!/usr/bin/env bash
# Installs the system packages the test suite needs (Debian/Ubuntu): PostgreSQL for the
# server-store tests and Chromium for the browser tests; then the npm packages of the
# OpenID Connect provider the sign-in tests start (tests/oidc-provider). Safe to run again.
set -euo pipefail

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "scripts/test-deps.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The OpenID Connect provider (node-oidc-provider) for crates/dxhub/tests/oidc.rs, exactly
# as locked in tests/oidc-provider/package-lock.json.
oidc_dir="$(dirname "$0")/../tests/oidc-provider"
if [ ! -d "$oidc_dir/node_modules/oidc-provider" ]; then
    echo "scripts/test-deps.sh: npm ci in tests/oidc-provider" >&2
    npm ci --prefix "$oidc_dir" --no-audit --no-fund --loglevel=error >&2
fi
