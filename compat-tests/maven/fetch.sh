#!/usr/bin/env bash
# fetch.sh — bring a bundle of Java artifacts from Maven Central into the ignored cache.
#
# Why it exists: the reference server (Apache ZooKeeper 3.9.5) and the applications
# the compatibility tests run come from Maven Central, and nothing fetched by hand
# survives onto a fresh machine. Each bundle is a folder here holding a pom.xml that
# lists what to fetch; its jars, with their runtime dependencies, are copied to
# compat-tests/.work/maven/<bundle>/lib, once.
#
#   compat-tests/maven/fetch.sh BUNDLE     prints the lib folder (for `java -cp 'DIR/*'`)
set -euo pipefail

MAVEN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bundle=${1:?usage: fetch.sh BUNDLE (one of: $(cd "$MAVEN_DIR" && ls -d */ | tr -d / | tr '\n' ' '))}
pom="$MAVEN_DIR/$bundle/pom.xml"
[ -f "$pom" ] || { echo "fetch.sh: no bundle '$bundle' ($pom missing)" >&2; exit 2; }
lib="$MAVEN_DIR/../.work/maven/$bundle/lib"
marker="$lib/.complete"
# Refetch when the pom changed since the last fetch.
if [ ! -f "$marker" ] || [ "$pom" -nt "$marker" ]; then
    echo "[maven] fetching $bundle into $lib" >&2
    rm -rf "$lib"
    mkdir -p "$lib"
    mvn -q -B -f "$pom" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib" >&2
    touch "$marker"
fi
cd "$lib" && pwd
