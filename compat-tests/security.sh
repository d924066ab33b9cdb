#!/usr/bin/env bash
# security.sh — TLS on the client port and SASL DIGEST-MD5 with the official Java
# client (Netty), zkCli and kazoo, against Apache ZooKeeper 3.9.5 and zkd configured
# with the same zoo.cfg and JAAS file.
#
# Why it exists: operators move to zkd with the key stores and JAAS files they have.
# Those were made by keytool and openssl, in PKCS#12, and their clients are the Java
# client over Netty (`zookeeper.client.secure=true`) with a JAAS `Client` section,
# zkCli and kazoo (`use_ssl=True`, `sasl_options`). The Rust tests (tests/tls.rs,
# tests/sasl.rs) cover the protocol cases with rustls, PEM files and rsasl; this check
# proves the same server settings serve these real clients on both servers alike: the
# x509 and sasl identities (whoami through the client API and zkCli), x509 and sasl
# ACLs, the SASL super user, refusals (no certificate, plaintext on the TLS port, a
# wrong password), watches over TLS, TLS and SASL on one session.
#
#   compat-tests/security.sh [zk|zkd|both]      (default both)
#
# Plain ports 26181 (ZooKeeper) and 26182 (zkd), TLS ports 26281 and 26282; the PKI
# (a CA made by openssl, the servers' PKCS#12 store by openssl, the Java clients'
# stores and the trust store by keytool, kazoo's PEM files by openssl) and the JAAS
# files are made fresh in .work/security-run/pki. Both servers get the JAAS file as
# zkServer.sh users pass it (SERVER_JVMFLAGS, see servers.sh).
# security/SecurityCheck.java runs the checks; it also runs zkCli and kazoo
# (security/kazoo_security.py, in the kazoo venv prereqs.sh makes) as child processes.
# java-check.sh does the running and reporting (see there); exits non-zero if a check
# failed on either server or zkd's log has 'panicked' or ' ERROR '.
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=java-check.sh
source "$COMPAT_DIR/java-check.sh"

APP=security
WHAT="TLS and SASL clients"
UNIT=check
# the ZooKeeper 3.9.5 client with Netty and commons-cli (zkCli)
BUNDLE=clients-3.9
SRC="$COMPAT_DIR/security/SecurityCheck.java"
declare -A PORT=([zk]=26181 [zkd]=26182)
declare -A SECURE=([zk]=26281 [zkd]=26282)
TIMEOUT=180
# the client program's JAAS file: one section per client identity
JVM=(-Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn
     "-Djava.security.auth.login.config=$COMPAT_DIR/.work/security-run/pki/client-jaas.conf")
PKI="$COMPAT_DIR/.work/security-run/pki"
PASS=zkdtest

# make_pki: a CA; the servers' PKCS#12 store (openssl); the Java clients' stores and
# the shared trust store (keytool, as Java users make them); kazoo's PEM files
make_pki() {
    rm -rf "$PKI" && mkdir -p "$PKI"
    (
        cd "$PKI"
        q() { "$@" > /dev/null 2>&1 || { echo "[security] failed: $*" >&2; "$@"; exit 1; }; }
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
        cat > server-jaas.conf <<EOF
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_admin="adminsecret"
    user_bob="bobsecret";
};
EOF
        {
            for s in "ClientBob bob bobsecret" "ClientAdmin admin adminsecret" "ClientWrong bob wrong"; do
                set -- $s
                printf '%s {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username="%s"\n    password="%s";\n};\n' "$1" "$2" "$3"
            done
        } > client-jaas.conf
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
authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
EOF
}
# the JAAS file and the SASL super user, as -D flags (ZooKeeper reads both as system
# properties; zkd reads them from SERVER_JVMFLAGS)
export SERVER_JVMFLAGS="-Djava.security.auth.login.config=$PKI/server-jaas.conf -Dzookeeper.superUser=admin"

# after the address: the TLS port, the PKI dir, the store password, the kazoo
# venv's python and the kazoo script
extra_args() {
    printf '%s\n' "${SECURE[$1]}" "$PKI" "$PASS" "$COMPAT_DIR/.work/venv/bin/python" \
        "$COMPAT_DIR/security/kazoo_security.py"
}

if [ ! -x "$COMPAT_DIR/.work/venv/bin/python" ]; then
    echo "[security] the kazoo venv is missing: run compat-tests/prereqs.sh" >&2
    exit 1
fi
make_pki
java_check "$@"
