#!/usr/bin/env bash
# prereqs.sh — install what the compatibility tests need, idempotently.
#
# Why it exists: nothing installed by hand survives onto a fresh machine, so the
# tests install their own tools.  They come from Debian packages (the C client,
# Maven, the JDK), from Maven Central (compat-tests/maven/: Apache ZooKeeper 3.9.5,
# the reference server; its Java client and zkCli with Curator 5.9; Hadoop's elector;
# Kafka 3.9) and from PyPI (kazoo and its test suite, into a venv), all cached under
# compat-tests/.work, which git ignores.
#
#   compat-tests/prereqs.sh [all|apt|maven|venv]     (default: all)
#
# Runs apt-get update/install only when a package is missing, and pip only when
# the venv is missing or incomplete, so a second run takes about a second.
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$COMPAT_DIR/.work"
KAZOO_VERSION=2.11.0

APT_PACKAGES=(
    zookeeper                  # 3.8.0, the older reference of the Rust tests (ZKD_TEST_ZK=3.8)
    zookeeper-bin              # C client tools (cli_mt, load_gen)
    libzookeeper-mt-dev        # C client headers + libzookeeper_mt
    libslf4j-java              # slf4j-simple / slf4j-nop bindings
    openjdk-17-jdk-headless    # javac
    gcc libc6-dev              # to build the C client
    python3-venv               # for the kazoo venv
    zktop tmux                 # zktop.sh: the 4lw monitor, in a pseudo-terminal
    python3-prometheus-client  # tests/operator.rs parses /metrics with it
    maven                      # fetches the Maven bundles (compat-tests/maven)
    openssl                    # X.509 v1 certificates and s_client (tests/tls.rs), stores (security.sh)
)

need_apt() {
    local p missing=()
    for p in "${APT_PACKAGES[@]}"; do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    echo "[prereqs] apt: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q >&2
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

need_venv() {
    local venv="$WORK/venv" src="$WORK/kazoo-$KAZOO_VERSION"
    # the marker names what is installed: a new requirement makes a new marker
    local marker="$venv/.compat-kazoo-$KAZOO_VERSION-puresasl"
    if [ -f "$marker" ] && [ -x "$venv/bin/pytest" ] && [ -d "$src/kazoo/tests" ]; then
        return 0
    fi
    echo "[prereqs] venv: kazoo $KAZOO_VERSION sdist with [test] extras" >&2
    mkdir -p "$WORK/dl"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    if [ ! -d "$src/kazoo/tests" ]; then
        # the sdist (not the wheel) is needed: it carries kazoo/tests
        "$venv/bin/pip" download -q --no-deps --no-binary :all: "kazoo==$KAZOO_VERSION" -d "$WORK/dl" >&2
        tar -xzf "$WORK/dl/kazoo-$KAZOO_VERSION.tar.gz" -C "$WORK"
    fi
    # pyOpenSSL >= 24.3 lacks crypto.X509Extension, which kazoo's harness calls;
    # pyjks is imported by the same harness; pure-sasl is kazoo's SASL (security.sh).
    "$venv/bin/pip" install -q -e "$src[test]" "pyopenssl<24.3" pyjks "pure-sasl==0.6.2" >&2
    touch "$marker"
}

need_maven() {
    local bundle
    for bundle in zookeeper-3.9.5 clients-3.9 hadoop-3.4 kafka-3.9; do
        bash "$COMPAT_DIR/maven/fetch.sh" "$bundle" >/dev/null
    done
}

case "${1:-all}" in
    apt)   need_apt ;;
    maven) need_maven ;;
    venv)  need_venv ;;
    all)   need_apt; need_maven; need_venv ;;
    *)     echo "usage: $0 [all|apt|maven|venv]" >&2; exit 2 ;;
esac
