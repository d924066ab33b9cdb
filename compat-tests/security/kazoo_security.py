"""kazoo over TLS (use_ssl=True with PEM files) and with SASL DIGEST-MD5
(sasl_options, through pure-sasl), run by security/SecurityCheck.java.

Usage: kazoo_security.py HOST:SECURE_PORT PKI_DIR

Prints one line per step and "kazoo ok" at the end when every step passed; a
failed step prints "FAILED <step>: <why>" and exits 1.
"""

import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, NoAuthError
from kazoo.protocol.states import KazooState
from kazoo.security import make_acl

# What Java's X500Principal.getName() makes of kazoo.pem's subject
# (/C=FR/O=Python Shop/CN=kazoo client): most specific part first.
KAZOO_DN = "CN=kazoo client,O=Python Shop,C=FR"


def client(address, pki, with_cert, sasl=None):
    extra = {}
    if with_cert:
        extra = {"certfile": f"{pki}/kazoo.pem", "keyfile": f"{pki}/kazoo.key"}
    if sasl:
        user, password = sasl
        extra["sasl_options"] = {
            "mechanism": "DIGEST-MD5",
            "username": user,
            "password": password,
        }
    return KazooClient(
        hosts=address,
        use_ssl=True,
        verify_certs=True,
        ca=f"{pki}/ca.pem",
        timeout=10,
        connection_retry={"max_tries": 1},
        **extra,
    )


def main():
    address, pki = sys.argv[1], sys.argv[2]
    zk = client(address, pki, with_cert=True)
    zk.start(timeout=15)
    print("connected with a certificate")
    acl = [make_acl("x509", KAZOO_DN, all=True)]
    zk.create("/kazoo-tls", b"from kazoo", acl=acl)
    data, _ = zk.get("/kazoo-tls")
    if data != b"from kazoo":
        print(f"FAILED read-back: {data!r}")
        return 1
    print("created and read a node only its certificate may read")
    acls, _ = zk.get_acls("/kazoo-tls")
    if [(a.id.scheme, a.id.id) for a in acls] != [("x509", KAZOO_DN)]:
        print(f"FAILED acl: {acls}")
        return 1
    zk.stop()
    zk.close()

    anonymous = client(address, pki, with_cert=False)
    try:
        anonymous.start(timeout=5)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the refusal
        print(f"without a certificate: refused ({type(e).__name__})")
    else:
        try:
            anonymous.get("/kazoo-tls")
            print("FAILED no-cert: a client without a certificate got a session and read")
        except NoAuthError:
            print("FAILED no-cert: a client without a certificate got a session")
        anonymous.stop()
        return 1
    finally:
        anonymous.close()

    # SASL DIGEST-MD5 on the same TLS session: a sasl:bob ACL admits bob
    bob = client(address, pki, with_cert=True, sasl=("bob", "bobsecret"))
    bob.start(timeout=15)
    bob.create("/kazoo-sasl", b"bob's", acl=[make_acl("sasl", "bob", all=True)])
    data, _ = bob.get("/kazoo-sasl")
    if data != b"bob's":
        print(f"FAILED sasl read-back: {data!r}")
        return 1
    bob.stop()
    bob.close()
    print("authenticated with DIGEST-MD5 and read a sasl:bob node")
    # a wrong password: kazoo reports the session connected, then the SASL exchange
    # fails (kazoo logs AUTH_FAILED), the server closes the connection and the client
    # ends LOST and CLOSED
    wrong = client(address, pki, with_cert=True, sasl=("bob", "wrong"))
    try:
        wrong.start(timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and wrong.state != KazooState.LOST:
            time.sleep(0.1)
        refused = wrong.state == KazooState.LOST
    except AuthFailedError:
        refused = True
    finally:
        wrong.stop()
        wrong.close()
    if not refused:
        print(f"FAILED sasl-wrong: a wrong password left the client {wrong.state}")
        return 1
    print("a wrong SASL password: the session is lost")
    print("kazoo ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
