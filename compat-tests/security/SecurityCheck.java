// SecurityCheck — the official ZooKeeper 3.9.5 Java client over TLS (ClientCnxnSocketNetty,
// zookeeper.client.secure=true, PKCS#12 stores made by keytool) and with SASL DIGEST-MD5
// (JAAS Client sections named by zookeeper.sasl.clientconfig), zkCli over TLS, and kazoo
// with use_ssl=True and sasl_options, against one server (compat-tests/security.sh runs
// it against Apache ZooKeeper and against zkd).
//
// Output protocol (java-check.sh): "PASS <check>" / "FAIL <check>: <why>" per check,
// then "TIME <check> <ms>", and last "N passed, M failed".
//
// Args: HOST:PLAIN_PORT SECURE_PORT PKI_DIR STORE_PASSWORD PYTHON KAZOO_SCRIPT

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public class SecurityCheck {
    static final String JAVA_DN = "CN=java-client,OU=Apps,O=Example\\, Inc.,C=US";
    static final String OTHER_DN = "CN=other-client,OU=Apps,O=Example\\, Inc.,C=US";
    static final long WATCHDOG_MS = 150_000;

    static String plainAddress, secureAddress, pki, password, python, kazooScript;
    static int passed, failed;
    static volatile String current = "(setup)";

    static class Fail extends RuntimeException {
        Fail(String why) { super(why); }
    }

    static void check(boolean ok, String why) {
        if (!ok) throw new Fail(why);
    }

    /** A client without TLS that authenticates with the JAAS section `section` (null: no SASL). */
    static ZKClientConfig saslConfig(String section) {
        ZKClientConfig c = new ZKClientConfig();
        if (section == null) {
            c.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "false");
        } else {
            c.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, section);
            // A 3.9 client refuses DIGEST-MD5 in its default FIPS mode.
            c.setProperty("zookeeper.fips-mode", "false");
        }
        return c;
    }

    /** The client settings of a TLS session; keyStore null = no client certificate; no SASL. */
    static ZKClientConfig tlsConfig(String keyStore) {
        ZKClientConfig c = saslConfig(null);
        c.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
        c.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET,
            "org.apache.zookeeper.ClientCnxnSocketNetty");
        c.setProperty("zookeeper.ssl.trustStore.location", pki + "/trust.p12");
        c.setProperty("zookeeper.ssl.trustStore.password", password);
        if (keyStore != null) {
            c.setProperty("zookeeper.ssl.keyStore.location", pki + "/" + keyStore);
            c.setProperty("zookeeper.ssl.keyStore.password", password);
        }
        return c;
    }

    /** A connected session, or null when none is established within `waitMs`. */
    static ZooKeeper connect(String address, ZKClientConfig config, long waitMs) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        Watcher w = e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
        };
        ZooKeeper zk = config == null
            ? new ZooKeeper(address, 10_000, w)
            : new ZooKeeper(address, 10_000, w, config);
        if (up.await(waitMs, TimeUnit.MILLISECONDS)) return zk;
        zk.close();
        return null;
    }

    static ZooKeeper mustConnect(String keyStore) throws Exception {
        ZooKeeper zk = connect(secureAddress, tlsConfig(keyStore), 15_000);
        check(zk != null, "no TLS session with " + keyStore);
        return zk;
    }

    static List<String> whoami(ZooKeeper zk) throws Exception {
        List<String> out = new ArrayList<>();
        for (ClientInfo i : zk.whoAmI()) out.add(i.getAuthScheme() + ":" + i.getUser());
        return out;
    }

    // --- the checks ---

    static void readWriteOverTls() throws Exception {
        try (ZooKeeper zk = mustConnect("java.p12")) {
            zk.create("/tls", "over tls".getBytes(StandardCharsets.UTF_8),
                ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            String back = new String(zk.getData("/tls", false, null), StandardCharsets.UTF_8);
            check(back.equals("over tls"), "read back " + back);
        }
        // what TLS wrote, plaintext reads: one tree behind both ports
        try (ZooKeeper plain = connect(plainAddress, saslConfig(null), 15_000)) {
            check(plain != null, "no plaintext session");
            check(plain.exists("/tls", false) != null, "/tls not seen on the plain port");
        }
    }

    static void whoamiIsTheSubject() throws Exception {
        try (ZooKeeper zk = mustConnect("java.p12")) {
            List<String> ids = whoami(zk);
            System.out.println("  whoami " + ids);
            check(ids.contains("x509:" + JAVA_DN), "whoami " + ids);
            check(ids.contains("ip:127.0.0.1"), "whoami " + ids);
        }
    }

    static void x509Acl() throws Exception {
        try (ZooKeeper owner = mustConnect("java.p12");
             ZooKeeper other = mustConnect("other.p12");
             ZooKeeper plain = connect(plainAddress, saslConfig(null), 15_000)) {
            // a mutable list: the client's validateACL asks contains(null)
            List<ACL> acl = new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL, new Id("x509", JAVA_DN))));
            owner.create("/x509-only", "mine".getBytes(StandardCharsets.UTF_8), acl, CreateMode.PERSISTENT);
            check(new String(owner.getData("/x509-only", false, null), StandardCharsets.UTF_8).equals("mine"),
                "the owner cannot read its node");
            for (ZooKeeper stranger : new ZooKeeper[] {other, plain}) {
                try {
                    stranger.getData("/x509-only", false, null);
                    throw new Fail("another identity read an x509-protected node");
                } catch (KeeperException.NoAuthException expected) {
                    // as it should
                }
            }
            try {
                owner.setACL("/x509-only", new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL, new Id("x509", "not a name")))), -1);
                throw new Fail("x509:not a name was accepted as an ACL");
            } catch (KeeperException.InvalidACLException expected) {
                // as it should
            }
            List<ACL> creator = owner.getACL("/x509-only", new Stat());
            check(creator.size() == 1 && creator.get(0).getId().getId().equals(JAVA_DN), "getACL " + creator);
            owner.create("/x509-auth", new byte[0], ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
            List<ACL> expanded = owner.getACL("/x509-auth", new Stat());
            check(expanded.size() == 1 && expanded.get(0).getId().getScheme().equals("x509")
                && expanded.get(0).getId().getId().equals(JAVA_DN), "auth expanded to " + expanded);
        }
    }

    static void noCertificateRefused() throws Exception {
        ZooKeeper zk = connect(secureAddress, tlsConfig(null), 5_000);
        if (zk != null) {
            zk.close();
            throw new Fail("a TLS client without a certificate got a session (ssl.clientAuth=need)");
        }
        ZooKeeper plainOnTls = connect(secureAddress, saslConfig(null), 5_000);
        if (plainOnTls != null) {
            plainOnTls.close();
            throw new Fail("a plaintext client got a session on the TLS port");
        }
        // and the server still serves
        try (ZooKeeper ok = mustConnect("java.p12")) {
            check(ok.exists("/", false) != null, "no root after refusals");
        }
    }

    static void watchOverTls() throws Exception {
        try (ZooKeeper watcher = mustConnect("java.p12"); ZooKeeper writer = mustConnect("other.p12")) {
            writer.create("/watched", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            CountDownLatch fired = new CountDownLatch(1);
            List<WatchedEvent> seen = new ArrayList<>();
            watcher.getData("/watched", e -> { seen.add(e); fired.countDown(); }, null);
            writer.setData("/watched", "x".getBytes(StandardCharsets.UTF_8), -1);
            check(fired.await(10, TimeUnit.SECONDS), "no watch event over TLS");
            check(seen.get(0).getType() == Watcher.Event.EventType.NodeDataChanged, "event " + seen);
        }
    }

    /** A session that waits until SASL has completed (SaslAuthenticated) or failed. */
    static ZooKeeper saslConnect(String address, ZKClientConfig config) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        List<Watcher.Event.KeeperState> states = new ArrayList<>();
        ZooKeeper zk = new ZooKeeper(address, 10_000, e -> {
            synchronized (states) { states.add(e.getState()); }
            if (e.getState() == Watcher.Event.KeeperState.SaslAuthenticated
                || e.getState() == Watcher.Event.KeeperState.AuthFailed) done.countDown();
        }, config);
        check(done.await(15, TimeUnit.SECONDS), "no SASL outcome in 15 s, states " + states);
        synchronized (states) {
            if (states.contains(Watcher.Event.KeeperState.AuthFailed)) {
                zk.close();
                return null;
            }
        }
        return zk;
    }

    static void saslWhoami() throws Exception {
        ZooKeeper zk = saslConnect(plainAddress, saslConfig("ClientBob"));
        check(zk != null, "bob's SASL authentication failed");
        try {
            List<String> ids = whoami(zk);
            System.out.println("  whoami " + ids);
            check(ids.contains("sasl:bob"), "whoami " + ids);
        } finally {
            zk.close();
        }
    }

    static void saslAcl() throws Exception {
        ZooKeeper bob = saslConnect(plainAddress, saslConfig("ClientBob"));
        ZooKeeper admin = saslConnect(plainAddress, saslConfig("ClientAdmin"));
        ZooKeeper plain = connect(plainAddress, saslConfig(null), 15_000);
        check(bob != null && admin != null && plain != null, "sessions");
        try {
            List<ACL> acl = new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL, new Id("sasl", "bob"))));
            bob.create("/sasl-only", "bob's".getBytes(StandardCharsets.UTF_8), acl, CreateMode.PERSISTENT);
            check(new String(bob.getData("/sasl-only", false, null), StandardCharsets.UTF_8).equals("bob's"),
                "bob cannot read his node");
            check(admin.getData("/sasl-only", false, null) != null, "the SASL super user cannot read");
            try {
                plain.getData("/sasl-only", false, null);
                throw new Fail("a session without SASL read a sasl:bob node");
            } catch (KeeperException.NoAuthException expected) {
                // as it should
            }
            check(whoami(admin).contains("super:"), "admin whoami " + whoami(admin));
        } finally {
            bob.close();
            admin.close();
            plain.close();
        }
    }

    static void saslWrongPassword() throws Exception {
        ZooKeeper zk = saslConnect(plainAddress, saslConfig("ClientWrong"));
        if (zk != null) {
            zk.close();
            throw new Fail("a wrong password authenticated");
        }
    }

    /** One session over TLS with a client certificate that also authenticates with SASL. */
    static void tlsAndSasl() throws Exception {
        ZKClientConfig c = tlsConfig("java.p12");
        c.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "true");
        c.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, "ClientBob");
        c.setProperty("zookeeper.fips-mode", "false");
        ZooKeeper zk = saslConnect(secureAddress, c);
        check(zk != null, "SASL over TLS failed");
        try {
            List<String> ids = whoami(zk);
            System.out.println("  whoami " + ids);
            check(ids.contains("sasl:bob") && ids.contains("x509:" + JAVA_DN), "whoami " + ids);
        } finally {
            zk.close();
        }
    }

    /** zkCli (ZooKeeperMain) with the TLS client settings as JVM flags, as operators run it. */
    static void zkCliWhoami() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
            System.getProperty("java.home") + "/bin/java", "-Xmx128m",
            "-cp", System.getProperty("java.class.path"),
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
            "-Dzookeeper.client.secure=true",
            "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
            "-Dzookeeper.ssl.keyStore.location=" + pki + "/java.p12",
            "-Dzookeeper.ssl.keyStore.password=" + password,
            "-Dzookeeper.ssl.trustStore.location=" + pki + "/trust.p12",
            "-Dzookeeper.ssl.trustStore.password=" + password,
            "org.apache.zookeeper.ZooKeeperMain", "-server", secureAddress, "whoami"));
        String out = runChild(cmd, 60);
        System.out.println("  zkCli whoami: " + out.replace('\n', '|'));
        check(out.contains("x509: " + JAVA_DN), "zkCli whoami printed: " + out);
    }

    /** kazoo with use_ssl=True and PEM files, and with sasl_options (security/kazoo_security.py prints its own verdicts). */
    static void kazoo() throws Exception {
        String out = runChild(List.of(python, kazooScript, secureAddress, pki), 90);
        System.out.println("  kazoo: " + out.replace('\n', '|'));
        check(out.contains("kazoo ok") && out.lines().noneMatch(l -> l.startsWith("FAILED ")),
            "kazoo printed: " + out);
    }

    static String runChild(List<String> cmd, int seconds) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        StringBuilder out = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (out) { out.append(line).append('\n'); }
                }
            } catch (Exception ignored) { }
        });
        reader.start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new Fail(cmd.get(cmd.size() - 1) + " did not finish in " + seconds + " s");
        }
        reader.join(5_000);
        synchronized (out) { return out.toString(); }
    }

    interface Check { void run() throws Exception; }

    static void run(String name, Check c) {
        current = name;
        long t0 = System.nanoTime();
        try {
            c.run();
            passed++;
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            failed++;
            String why = t instanceof Fail ? t.getMessage() : t.toString();
            System.out.println("FAIL " + name + ": " + why);
            if (!(t instanceof Fail)) t.printStackTrace();
        }
        System.out.println("TIME " + name + " " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: SecurityCheck HOST:PORT SECURE_PORT PKI_DIR PASSWORD PYTHON KAZOO_SCRIPT");
            System.exit(2);
        }
        plainAddress = args[0];
        secureAddress = args[0].substring(0, args[0].lastIndexOf(':') + 1) + args[1];
        pki = args[2];
        password = args[3];
        python = args[4];
        kazooScript = args[5];
        Thread watchdog = new Thread(() -> {
            try { Thread.sleep(WATCHDOG_MS); } catch (InterruptedException e) { return; }
            System.out.println("FAIL " + current + ": harness watchdog: no end after " + WATCHDOG_MS / 1000 + " s");
            System.out.println(passed + " passed, " + (failed + 1) + " failed");
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        run("read-write-over-tls", SecurityCheck::readWriteOverTls);
        run("whoami-x509-subject", SecurityCheck::whoamiIsTheSubject);
        run("x509-acl", SecurityCheck::x509Acl);
        run("no-certificate-refused", SecurityCheck::noCertificateRefused);
        run("watch-over-tls", SecurityCheck::watchOverTls);
        run("sasl-digest-whoami", SecurityCheck::saslWhoami);
        run("sasl-acl-superuser", SecurityCheck::saslAcl);
        run("sasl-wrong-password", SecurityCheck::saslWrongPassword);
        run("tls-and-sasl", SecurityCheck::tlsAndSasl);
        run("zkcli-whoami", SecurityCheck::zkCliWhoami);
        run("kazoo-tls-and-sasl", SecurityCheck::kazoo);
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
