#!/usr/bin/env bash
# tls.sh — TLS on the client port with the official Java client (Netty), zkCli and
# kazoo, against Apache ZooKeeper 3.9.5 and zkd configured with the same zoo.cfg.
#
# Why it exists: operators move to zkd with the key stores they have. Those were made
# by keytool and openssl, in PKCS#12, and their clients are the Java client over
# Netty (`zookeeper.client.secure=true`), zkCli and kazoo (`use_ssl=True`). The Rust
# tests (tests/tls.rs) cover the protocol cases with rustls and PEM files; this check
# proves the same server settings serve these real clients on both servers alike:
# the x509 identity each certificate gets (whoami through the client API and zkCli),
# x509 ACLs, refusals of clients without a certificate and of plaintext, watches.
#
#   compat-tests/tls.sh [zk|zkd|both]      (default both)
#
# Plain ports 26181 (ZooKeeper) and 26182 (zkd), TLS ports 26281 and 26282; the PKI
# (a CA made by openssl, the servers' PKCS#12 store by openssl, the Java clients'
# stores and the trust store by keytool, kazoo's PEM files by openssl) is made fresh
# in .work/tls-run/pki. tls/TlsCheck.java runs the checks; it also runs zkCli and
# kazoo (tls/kazoo_tls.py, in the kazoo venv prereqs.sh makes) as child processes.
# java-check.sh does the running and reporting (see there); exits non-zero if a
# check failed on either server or zkd's log has 'panicked' or ' ERROR '.
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=java-check.sh
source "$COMPAT_DIR/java-check.sh"

APP=tls
WHAT="TLS clients"
UNIT=check
# the ZooKeeper 3.9.5 client with Netty and commons-cli (zkCli)
BUNDLE=clients-3.9
SRC="$COMPAT_DIR/tls/TlsCheck.java"
declare -A PORT=([zk]=26181 [zkd]=26182)
declare -A SECURE=([zk]=26281 [zkd]=26282)
TIMEOUT=180
JVM=(-Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
PKI="$COMPAT_DIR/.work/tls-run/pki"
PASS=zkdtest

# make_pki: a CA; the servers' PKCS#12 store (openssl); the Java clients' stores and
# the shared trust store (keytool, as Java users make them); kazoo's PEM files
make_pki() {
    rm -rf "$PKI" && mkdir -p "$PKI"
    (
        cd "$PKI"
        q() { "$@" > /dev/null 2>&1 || { echo "[tls] failed: $*" >&2; "$@"; exit 1; }; }
        q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
            -subj "/O=zkd compat/CN=compat CA"
        sign() {   # sign CSR OUT [EXTFILE]
            q openssl x509 -req -in "$1" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
                -out "$2" ${3:+-extfile "$3"}
        }
        # X.509 v3 (extensions) for every certificate: `openssl x509 -req` without
        # an -extfile signs a v1 certificate, which a JDK accepts and rustls does not
        # (docs/operations.md, "Securing zkd").
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
        q openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"
        sign server.csr server.pem server.ext
        q openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem \
            -name server -out server.p12 -passout pass:$PASS
        q keytool -importcert -noprompt -alias ca -file ca.pem -keystore trust.p12 \
            -storetype PKCS12 -storepass $PASS
        for who in java other; do
            local_dn="CN=$who-client, OU=Apps, O=Example\\, Inc., C=US"
            q keytool -genkeypair -alias "$who" -keyalg RSA -keysize 2048 -validity 30 \
                -dname "$local_dn" -keystore "$who.p12" -storetype PKCS12 \
                -storepass $PASS -keypass $PASS
            q keytool -certreq -alias "$who" -keystore "$who.p12" -storepass $PASS -file "$who.csr"
            sign "$who.csr" "$who.pem" client.ext
            q keytool -importcert -noprompt -alias ca -file ca.pem -keystore "$who.p12" -storepass $PASS
            q keytool -importcert -alias "$who" -file "$who.pem" -keystore "$who.p12" -storepass $PASS
        done
        q openssl req -newkey rsa:2048 -nodes -keyout kazoo.key -out kazoo.csr \
            -subj "/C=FR/O=Python Shop/CN=kazoo client"
        sign kazoo.csr kazoo.pem client.ext
    )
}

# the same TLS settings for both servers (ZooKeeper does TLS only with Netty)
server_cfg() {
    cat <<EOF
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
secureClientPort=${SECURE[$1]}
ssl.keyStore.location=$PKI/server.p12
ssl.keyStore.password=$PASS
ssl.trustStore.location=$PKI/trust.p12
ssl.trustStore.password=$PASS
authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider
EOF
}

# after the address: the TLS port, the PKI dir, the store password, the kazoo
# venv's python and the kazoo script
extra_args() {
    printf '%s\n' "${SECURE[$1]}" "$PKI" "$PASS" "$COMPAT_DIR/.work/venv/bin/python" \
        "$COMPAT_DIR/tls/kazoo_tls.py"
}

if [ ! -x "$COMPAT_DIR/.work/venv/bin/python" ]; then
    echo "[tls] the kazoo venv is missing: run compat-tests/prereqs.sh" >&2
    exit 1
fi
make_pki
java_check "$@"
