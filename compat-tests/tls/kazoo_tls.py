"""kazoo over TLS (use_ssl=True with PEM files), run by tls/TlsCheck.java.

Usage: kazoo_tls.py HOST:SECURE_PORT PKI_DIR

Prints one line per step and "kazoo ok" at the end when every step passed; a
failed step prints "FAILED <step>: <why>" and exits 1.
"""

import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

# What Java's X500Principal.getName() makes of kazoo.pem's subject
# (/C=FR/O=Python Shop/CN=kazoo client): most specific part first.
KAZOO_DN = "CN=kazoo client,O=Python Shop,C=FR"


def client(address, pki, with_cert):
    extra = {}
    if with_cert:
        extra = {"certfile": f"{pki}/kazoo.pem", "keyfile": f"{pki}/kazoo.key"}
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
    print("kazoo ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
