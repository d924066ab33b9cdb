// Elector.java — Hadoop's HA leader election (org.apache.hadoop.ha.ActiveStandbyElector,
// the engine of the HDFS NameNode's ZKFC) run against one server, self-checking.
//
// Why it exists: the ZKFC is among the most common ZooKeeper users there is, and it
// leans on things a plain CRUD check does not reach: ephemeral lock znodes and their
// owners, exists-watches that fire on session loss, digest ACLs with auth info,
// versioned setData/delete of the bread crumb, a session closed from another handle,
// a server restart under live sessions, and ZooKeeper's own multi-op deleteRecursive.
// compat-tests/hadoop.sh runs this against Apache ZooKeeper 3.9.5 and against zkd.
//
//   java -cp 'LIB/*:OUT' Elector HOST:PORT SERVER_DIR SERVERS_SH
//
// Three candidates (nn1, nn2, nn3), each with its own elector and ZooKeeper session,
// elect under /hadoop-ha/ns1 with the ACL ha.zookeeper.acl would give
// (digest:hdfs-zkfcs:<digest>:rwcda) and the matching ha.zookeeper.auth. SERVER_DIR and
// SERVERS_SH let the restart scenario call servers.sh halt_server/resume_server.
// The checks, in order (each starts over from a fresh election if an earlier one left
// it unsettled):
//   elect                  ensureParentZNode (twice: the second must find the ACLs equal),
//                          all join: one active, two standby; the lock is ephemeral, owned
//                          by the active's session, digest-ACL'd (NOAUTH without auth);
//                          the bread crumb holds the active's data
//   expire-active          the active's session is closed from a second handle (its rejoin
//                          held back with Hadoop's test hook): a standby fences it with its
//                          bread-crumb data, then becomes active; the old one goes neutral
//                          and rejoins as standby on a new session
//   quit-needfence         quitElection(true) keeps the crumb: the next active fences
//   quit-graceful          quitElection(false) deletes the crumb: nobody fences
//   server-restart         halt_server/resume_server: all go neutral, all reconnect, one
//                          active, no notifyFatalError
//   restart-sessions-kept  ...and, as ZooKeeper does, on the same sessions, same active
//   clear-parent           all quit; a fresh elector (as zkfc -formatZK) clears the tree
//
// Output (stdout): callback events as they happen ("  [  1.234s] nn2 becomeActive"),
// "PASS <check>" / "FAIL <check>: <why>" per check followed by "TIME <check> <ms>",
// and last "N passed, M failed".
// Hadoop's and the client's own logging goes to stderr. Exit status 1 on any failure.
import org.apache.hadoop.ha.ActiveStandbyElector;
import org.apache.hadoop.ha.ActiveStandbyElector.ActiveStandbyElectorCallback;
import org.apache.hadoop.ha.ServiceFailedException;
import org.apache.hadoop.util.ZKUtil;
import org.apache.hadoop.util.ZKUtil.ZKAuthInfo;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

public class Elector {
    static final String PARENT = "/hadoop-ha/ns1";
    static final String LOCK = PARENT + "/ActiveStandbyElectorLock";
    static final String CRUMB = PARENT + "/ActiveBreadCrumb";
    static final String AUTH = "hdfs-zkfcs:password";
    static final int SESSION_TIMEOUT_MS = 10000;   // ha.zookeeper.session-timeout.ms default
    static final int OP_RETRIES = 3;               // ...active-standby-elector.zk.op.retries default
    static final long WAIT_MS = 20000;             // any single expected transition
    static final long WATCHDOG_MS = 90000;         // the whole run (~7 s when all is well)

    static String connect, serverDir, serversSh;
    static List<ACL> acls;
    static List<ZKAuthInfo> auths;
    static final long T0 = System.nanoTime();
    static final Object MON = new Object();        // guards every Node's state and EVENTS
    static final List<Event> EVENTS = new ArrayList<>();
    static final List<Node> NODES = new ArrayList<>();
    static int passed, failed;
    static volatile String current = "(setup)";
    static ZooKeeper plain, authed;                // verification clients: without / with auth

    enum St { INIT, ACTIVE, STANDBY, NEUTRAL, QUIT }

    static final class Event {
        final int seq; final double t; final Node node; final String kind; final byte[] data;
        Event(int seq, Node node, String kind, byte[] data) {
            this.seq = seq; this.t = (System.nanoTime() - T0) / 1e9;
            this.node = node; this.kind = kind; this.data = data;
        }
    }

    /** A candidate (one NameNode's ZKFC): its elector, app data and callback-derived state. */
    static final class Node implements ActiveStandbyElectorCallback {
        final String name; final byte[] appData;
        ActiveStandbyElector elector;
        St state = St.INIT;                        // under MON
        Node(String name) {
            this.name = name;
            this.appData = ("ns1/" + name + "@127.0.0.1:" + (8020 + NODES.size()))
                    .getBytes(StandardCharsets.UTF_8);
        }
        void record(String kind, byte[] data, St next) {
            synchronized (MON) {
                Event e = new Event(EVENTS.size(), this, kind, data);
                EVENTS.add(e);
                if (next != null) state = next;
                System.out.printf("  [%7.3fs] %s %s%s%n", e.t, name, kind,
                        data == null ? "" : "(" + str(data) + ")");
                MON.notifyAll();
            }
        }
        @Override public void becomeActive() throws ServiceFailedException { record("becomeActive", null, St.ACTIVE); }
        @Override public void becomeStandby() { record("becomeStandby", null, St.STANDBY); }
        @Override public void enterNeutralMode() { record("enterNeutralMode", null, St.NEUTRAL); }
        @Override public void notifyFatalError(String msg) {
            record("notifyFatalError", msg.getBytes(StandardCharsets.UTF_8), null);
        }
        @Override public void fenceOldActive(byte[] oldActiveData) { record("fenceOldActive", oldActiveData, null); }
        @Override public String toString() { return name; }

        void join() {
            elector.joinElection(appData);
        }
        void quit(boolean needFence) {
            elector.quitElection(needFence);
            synchronized (MON) { state = St.QUIT; }
            System.out.printf("  [%7.3fs] %s quitElection(%s) returned%n", secs(), name, needFence);
        }
        St st() { synchronized (MON) { return state; } }
        /** The elector's current ZooKeeper handle (a private field; read without its lock). */
        ZooKeeper zk() {
            try {
                Field f = ActiveStandbyElector.class.getDeclaredField("zkClient");
                f.setAccessible(true);
                return (ZooKeeper) f.get(elector);
            } catch (ReflectiveOperationException e) { throw new RuntimeException(e); }
        }
        long sessionId() { ZooKeeper z = zk(); return z == null ? -1 : z.getSessionId(); }
        /** The hooks Hadoop's own tests use to hold back an elector's rejoin after expiry. */
        void testHook(String method) {
            try {
                Method m = ActiveStandbyElector.class.getDeclaredMethod(method);
                m.setAccessible(true);
                m.invoke(elector);
            } catch (ReflectiveOperationException e) { throw new RuntimeException(e); }
        }
    }

    static final class Fail extends RuntimeException { Fail(String m) { super(m); } }

    static double secs() { return (System.nanoTime() - T0) / 1e9; }
    static String str(byte[] b) { return b == null ? "null" : new String(b, StandardCharsets.UTF_8); }
    static String hex(long id) { return String.format("0x%x", id); }
    static void check(boolean ok, String why) { if (!ok) throw new Fail(why); }

    static ActiveStandbyElector newElector(Node cb) throws Exception {
        // The 3.4 constructor ZKFC uses (failFast: connects now); no TLS truststore.
        return new ActiveStandbyElector(connect, SESSION_TIMEOUT_MS, PARENT, acls, auths, cb,
                OP_RETRIES, null);
    }

    /** Wait (on MON) until cond holds; fail with what after timeoutMs. */
    static void await(String what, long timeoutMs, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        synchronized (MON) {
            while (!cond.getAsBoolean()) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) throw new Fail("timed out after " + timeoutMs + " ms waiting for " + what
                        + " (states: " + states() + ")");
                MON.wait(Math.min(left, 200));
            }
        }
    }

    static String states() {
        synchronized (MON) {
            StringBuilder sb = new StringBuilder();
            for (Node n : NODES) sb.append(sb.length() == 0 ? "" : ", ").append(n.name).append('=').append(n.state);
            return sb.toString();
        }
    }

    static List<Event> since(int mark, Node node, String kind) {
        synchronized (MON) {
            List<Event> out = new ArrayList<>();
            for (Event e : EVENTS.subList(mark, EVENTS.size()))
                if ((node == null || e.node == node) && (kind == null || e.kind.equals(kind))) out.add(e);
            return out;
        }
    }
    static int mark() { synchronized (MON) { return EVENTS.size(); } }

    static List<Node> inState(St s) {
        synchronized (MON) {
            List<Node> out = new ArrayList<>();
            for (Node n : NODES) if (n.state == s) out.add(n);
            return out;
        }
    }

    /** true when exactly one node is ACTIVE and every other one that is in the election is STANDBY */
    static boolean settled() {
        synchronized (MON) {
            int active = 0;
            for (Node n : NODES) {
                if (n.state == St.ACTIVE) active++;
                else if (n.state != St.STANDBY && n.state != St.QUIT) return false;
            }
            return active == 1;
        }
    }

    static Node expectOneActive(String when) {
        synchronized (MON) {
            List<Node> act = inState(St.ACTIVE);
            check(act.size() == 1, when + ": expected exactly one active, states: " + states());
            return act.get(0);
        }
    }

    static void noFatal(int mark) {
        List<Event> f = since(mark, null, "notifyFatalError");
        check(f.isEmpty(), "notifyFatalError on " + (f.isEmpty() ? "" : f.get(0).node + ": " + str(f.get(0).data)));
    }

    // ---- verification clients ----

    static ZooKeeper connectPlain(boolean withAuth) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(connect, SESSION_TIMEOUT_MS, ev -> {
            if (ev.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
        });
        check(up.await(15, TimeUnit.SECONDS), "plain client could not connect to " + connect);
        if (withAuth) zk.addAuthInfo("digest", AUTH.getBytes(StandardCharsets.UTF_8));
        return zk;
    }

    interface ZkCall<T> { T call() throws Exception; }

    /** Retry on connection loss (the verification clients reconnect after a restart). */
    static <T> T zk(ZkCall<T> c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            try {
                return c.call();
            } catch (KeeperException.ConnectionLossException e) {
                if (System.nanoTime() > deadline) throw e;
                Thread.sleep(200);
            }
        }
    }

    /** The exception code a call ends in, or "OK". */
    static String outcome(ZkCall<?> c) throws Exception {
        try {
            zk(c);
            return "OK";
        } catch (KeeperException e) {
            return e.code().name();
        }
    }

    /** lock znode: ephemeral, owned by n's session, holding n's data, with the digest ACL */
    static void checkLock(Node n) throws Exception {
        Stat st = new Stat();
        byte[] d = zk(() -> authed.getData(LOCK, false, st));
        check(Arrays.equals(d, n.appData), "lock znode holds '" + str(d) + "', expected " + n + "'s '" + str(n.appData) + "'");
        long sid = n.sessionId();
        check(st.getEphemeralOwner() == sid, "lock znode ephemeralOwner " + hex(st.getEphemeralOwner())
                + ", expected " + n + "'s session " + hex(sid));
        List<ACL> acl = zk(() -> authed.getACL(LOCK, new Stat()));
        check(acl.equals(acls), "lock znode ACL " + acl + ", expected " + acls);
    }

    /** bread crumb: persistent, holding n's data, with the digest ACL; returns its stat */
    static Stat checkCrumb(Node n) throws Exception {
        Stat st = new Stat();
        byte[] d = zk(() -> authed.getData(CRUMB, false, st));
        check(Arrays.equals(d, n.appData), "ActiveBreadCrumb holds '" + str(d) + "', expected " + n + "'s '" + str(n.appData) + "'");
        check(st.getEphemeralOwner() == 0, "ActiveBreadCrumb is ephemeral (owner " + hex(st.getEphemeralOwner()) + ")");
        List<ACL> acl = zk(() -> authed.getACL(CRUMB, new Stat()));
        check(acl.equals(acls), "ActiveBreadCrumb ACL " + acl + ", expected " + acls);
        return st;
    }

    /** Start over when an earlier check left the election unsettled: new electors, join, settle. */
    static void ensureSettled() throws Exception {
        if (settled() && inState(St.QUIT).isEmpty()) return;
        System.out.println("  (re-electing from scratch: earlier state " + states() + ")");
        for (Node n : NODES) {
            try { n.elector.quitElection(true); } catch (RuntimeException ignored) { }
            try { n.elector.terminateConnection(); } catch (RuntimeException ignored) { }
            n.elector = newElector(n);
            synchronized (MON) { n.state = St.INIT; }
        }
        NODES.get(0).elector.ensureParentZNode();
        for (Node n : NODES) n.join();
        await("a settled election (one active, the rest standby)", WAIT_MS, Elector::settled);
    }

    static void serversSh(String fn) throws Exception {
        System.out.printf("  [%7.3fs] servers.sh %s %s%n", secs(), fn, serverDir);
        // $0 must not be servers.sh itself, or sourcing it runs it as a script.
        Process p = new ProcessBuilder("bash", "-c", "source \"$1\" && " + fn + " \"$2\"", "hadoop-elector",
                serversSh, serverDir)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.INHERIT)   // stdout: nothing expected
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        check(p.waitFor(90, TimeUnit.SECONDS), fn + " did not finish in 90 s");
        check(p.exitValue() == 0, fn + " exited " + p.exitValue());
        System.out.printf("  [%7.3fs] %s done%n", secs(), fn);
    }

    // ---- the scenarios ----

    /** 1. ensureParentZNode, all join; one active, the rest standby; lock and crumb as ZKFC leaves them. */
    static void elect() throws Exception {
        int m = mark();
        Node a = NODES.get(0), b = NODES.get(1);
        check(!a.elector.parentZNodeExists(), PARENT + " exists on a fresh server");
        a.elector.ensureParentZNode();
        check(b.elector.parentZNodeExists(), "parentZNodeExists() false after ensureParentZNode");
        // A second ensureParentZNode takes the NodeExists path: it reads each level's ACL
        // and rewrites it only if it differs from ha.zookeeper.acl.
        b.elector.ensureParentZNode();
        for (String p : new String[] {"/hadoop-ha", PARENT}) {
            Stat st = new Stat();
            List<ACL> acl = zk(() -> authed.getACL(p, st));
            check(acl.equals(acls), p + " ACL " + acl + ", expected " + acls);
            check(st.getAversion() == 0, p + " aversion " + st.getAversion()
                    + " after a second ensureParentZNode (the ACL read back differed, so it was rewritten)");
        }
        String r = outcome(() -> plain.getChildren(PARENT, false));
        check(r.equals("NOAUTH"), "getChildren " + PARENT + " without auth: " + r + ", expected NOAUTH");

        for (Node n : NODES) n.join();
        await("one active and two standbys", WAIT_MS, Elector::settled);
        Node act = expectOneActive("after joinElection");
        noFatal(m);
        for (Node n : NODES) {
            List<Event> evs = since(m, n, null);
            String want = n == act ? "becomeActive" : "becomeStandby";
            check(evs.size() == 1 && evs.get(0).kind.equals(want),
                    n + " callbacks " + kinds(evs) + ", expected [" + want + "]");
        }
        checkLock(act);
        // ZooKeeper 3.9 checks READ on exists() of an existing znode too.
        r = outcome(() -> plain.exists(LOCK, false));
        check(r.equals("NOAUTH"), "exists lock without auth: " + r + ", expected NOAUTH");
        r = outcome(() -> plain.exists(PARENT + "/no-such-znode", false));
        check(r.equals("OK"), "exists of a missing znode without auth: " + r + ", expected OK (null)");
        r = outcome(() -> plain.getData(LOCK, false, null));
        check(r.equals("NOAUTH"), "getData lock without auth: " + r + ", expected NOAUTH");
        r = outcome(() -> plain.getACL(LOCK, new Stat()));
        check(r.equals("NOAUTH"), "getACL lock without auth: " + r + ", expected NOAUTH");
        checkCrumb(act);
        r = outcome(() -> plain.getData(CRUMB, false, null));
        check(r.equals("NOAUTH"), "getData ActiveBreadCrumb without auth: " + r + ", expected NOAUTH");
        List<String> kids = zk(() -> authed.getChildren(PARENT, false));
        Collections.sort(kids);
        check(kids.equals(List.of("ActiveBreadCrumb", "ActiveStandbyElectorLock")), PARENT + " children " + kids);
        for (Node n : NODES) {
            if (n == act) continue;
            byte[] d = n.elector.getActiveData();
            check(Arrays.equals(d, act.appData), n + ".getActiveData() = '" + str(d) + "'");
        }
        // Session ids are distinct (each elector has its own session).
        check(NODES.stream().mapToLong(Node::sessionId).distinct().count() == NODES.size(),
                "electors share a session");
    }

    /** 2. The active's session is closed from another handle; a standby fences it and takes over. */
    static void expireActive() throws Exception {
        ensureSettled();
        Node old = expectOneActive("before expiry");
        ZooKeeper z = old.zk();
        long sid = z.getSessionId();
        byte[] pw = z.getSessionPasswd();
        int m = mark();
        old.testHook("preventSessionReestablishmentForTests");
        boolean held = true;
        try {
            System.out.printf("  [%7.3fs] expiring %s's session %s%n", secs(), old, hex(sid));
            CountDownLatch up = new CountDownLatch(1);
            ZooKeeper dup = new ZooKeeper(connect, SESSION_TIMEOUT_MS, ev -> {
                if (ev.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
            }, sid, pw);
            check(up.await(15, TimeUnit.SECONDS), "a second handle on session " + hex(sid) + " did not connect");
            check(dup.getSessionId() == sid, "the second handle got session " + hex(dup.getSessionId()));
            check(dup.close(10000), "closing the second handle timed out");

            await("a standby to become active", WAIT_MS, () -> !since(m, null, "becomeActive").isEmpty());
            await(old + " to enter neutral mode", WAIT_MS, () -> old.state == St.NEUTRAL);
            List<Event> acts = since(m, null, "becomeActive");
            Node now = acts.get(0).node;
            check(now != old, old + " became active again while its rejoin was held back");
            List<Event> fences = since(m, null, "fenceOldActive");
            check(fences.size() == 1 && fences.get(0).node == now,
                    "expected one fenceOldActive by " + now + ", got " + describe(fences));
            check(Arrays.equals(fences.get(0).data, old.appData),
                    now + " fenced '" + str(fences.get(0).data) + "', expected " + old + "'s '" + str(old.appData) + "'");
            check(fences.get(0).seq < acts.get(0).seq, now + " became active before fencing");
            expectOneActive("after the takeover");
            checkLock(now);
            checkCrumb(now);
            old.testHook("allowSessionReestablishmentForTests");
            held = false;
            await(old + " to rejoin as standby", WAIT_MS, () -> old.state == St.STANDBY);
            await("a settled election", WAIT_MS, Elector::settled);
            check(expectOneActive("after the old active rejoined") == now, "the active changed again");
            check(since(m, null, "becomeActive").size() == 1, "more than one becomeActive: " + describe(since(m, null, "becomeActive")));
            long nsid = old.sessionId();
            check(nsid != sid && nsid != -1, old + " rejoined on session " + hex(nsid) + " (old " + hex(sid) + ")");
            checkLock(now);
            noFatal(m);
        } finally {
            if (held) old.testHook("allowSessionReestablishmentForTests");
        }
    }

    /** 3a. quitElection(true): the bread crumb stays, so the next active fences the quitter. */
    static void quitNeedFence() throws Exception {
        ensureSettled();
        Node old = expectOneActive("before quitElection(true)");
        int m = mark();
        old.quit(true);
        await("another candidate to become active", WAIT_MS, () -> !since(m, null, "becomeActive").isEmpty());
        await("a settled election", WAIT_MS, Elector::settled);
        Node now = expectOneActive("after quitElection(true)");
        check(now != old, "the quitter is still active");
        List<Event> fences = since(m, null, "fenceOldActive");
        check(fences.size() == 1 && fences.get(0).node == now && Arrays.equals(fences.get(0).data, old.appData),
                "expected " + now + " to fence '" + str(old.appData) + "', got " + describe(fences));
        check(fences.get(0).seq < since(m, now, "becomeActive").get(0).seq, now + " became active before fencing");
        check(since(m, old, null).isEmpty(), old + " got callbacks after quitting: " + kinds(since(m, old, null)));
        checkLock(now);
        checkCrumb(now);
        int m2 = mark();
        old.join();
        await(old + " to rejoin as standby", WAIT_MS, () -> old.state == St.STANDBY);
        await("a settled election", WAIT_MS, Elector::settled);
        check(expectOneActive("after the quitter rejoined") == now, "the active changed when the quitter rejoined");
        check(since(m2, null, "becomeActive").isEmpty(), "a becomeActive when the quitter rejoined");
        noFatal(m);
    }

    /** 3b. quitElection(false): the active deletes its bread crumb, so nobody fences it. */
    static void quitGraceful() throws Exception {
        ensureSettled();
        Node old = expectOneActive("before quitElection(false)");
        int m = mark();
        old.quit(false);
        await("another candidate to become active", WAIT_MS, () -> !since(m, null, "becomeActive").isEmpty());
        await("a settled election", WAIT_MS, Elector::settled);
        Node now = expectOneActive("after quitElection(false)");
        check(now != old, "the quitter is still active");
        check(since(m, null, "fenceOldActive").isEmpty(),
                "fenceOldActive after a graceful quit: " + describe(since(m, null, "fenceOldActive")));
        checkLock(now);
        Stat crumb = checkCrumb(now);
        check(crumb.getVersion() == 0, "ActiveBreadCrumb version " + crumb.getVersion()
                + ": it was not deleted and created anew");
        old.join();
        await(old + " to rejoin as standby", WAIT_MS, () -> old.state == St.STANDBY);
        await("a settled election", WAIT_MS, Elector::settled);
        check(expectOneActive("after the quitter rejoined") == now, "the active changed when the quitter rejoined");
        noFatal(m);
    }

    static Node activeBeforeRestart;
    static long[] sessionsBeforeRestart;
    static int markBeforeRestart = -1;

    /** 4. halt_server + resume_server under live electors: all reconnect, one active, no fatal error. */
    static void serverRestart() throws Exception {
        ensureSettled();
        activeBeforeRestart = expectOneActive("before the restart");
        sessionsBeforeRestart = NODES.stream().mapToLong(Node::sessionId).toArray();
        int m = mark();
        markBeforeRestart = m;
        serversSh("halt_server");
        await("every elector to enter neutral mode", WAIT_MS, () -> inState(St.NEUTRAL).size() == NODES.size());
        for (Node n : NODES)
            check(n.elector.getHAZookeeperConnectionState().equals("DISCONNECTED"),
                    n + " connection state " + n.elector.getHAZookeeperConnectionState() + " while the server is down");
        serversSh("resume_server");
        await("one active and two standbys after the restart", 30000, () -> {
            if (!settled()) return false;
            for (Node n : NODES) if (!n.elector.getHAZookeeperConnectionState().equals("CONNECTED")) return false;
            return true;
        });
        Node now = expectOneActive("after the restart");
        noFatal(m);
        checkLock(now);
        checkCrumb(now);
        System.out.printf("  active before %s, after %s; sessions before %s, after %s%n", activeBeforeRestart, now,
                sessionList(sessionsBeforeRestart), sessionList(NODES.stream().mapToLong(Node::sessionId).toArray()));
    }

    /** 4b. What ZooKeeper 3.9.5 does on a standalone restart: sessions survive, the active stays. */
    static void restartSessionsKept() throws Exception {
        check(markBeforeRestart >= 0 && settled(), "server-restart did not settle");
        long[] after = NODES.stream().mapToLong(Node::sessionId).toArray();
        check(Arrays.equals(after, sessionsBeforeRestart), "sessions before " + sessionList(sessionsBeforeRestart)
                + ", after " + sessionList(after) + " (a session was lost in the restart)");
        Node now = expectOneActive("after the restart");
        check(now == activeBeforeRestart, "the active changed from " + activeBeforeRestart + " to " + now);
        check(since(markBeforeRestart, null, "fenceOldActive").isEmpty(), "fenceOldActive across the restart");
        for (Node n : NODES) {
            List<Event> evs = since(markBeforeRestart, n, null);
            String want = "[enterNeutralMode, " + (n == now ? "becomeActive" : "becomeStandby") + "]";
            check(kinds(evs).equals(want), n + " callbacks across the restart " + kinds(evs) + ", expected " + want);
        }
    }

    /** 5. All quit; a fresh elector (as `hdfs zkfc -formatZK -force` makes) clears the tree. */
    static void clearParent() throws Exception {
        ensureSettled();
        int m = mark();
        Node act = expectOneActive("before quitting");
        for (Node n : NODES) if (n != act) n.quit(true);
        act.quit(true);                  // leaves the bread crumb behind for clearParentZNode
        check(since(m, null, null).isEmpty(), "callbacks while quitting: " + describe(since(m, null, null)));
        List<String> kids = zk(() -> authed.getChildren(PARENT, false));
        check(kids.equals(List.of("ActiveBreadCrumb")), PARENT + " children after all quit: " + kids
                + " (the lock is ephemeral, the crumb persistent)");
        Node fmt = new Node("format");
        fmt.elector = newElector(fmt);
        try {
            check(fmt.elector.parentZNodeExists(), "parentZNodeExists() false before clearing");
            fmt.elector.clearParentZNode();
            check(!fmt.elector.parentZNodeExists(), "parentZNodeExists() true after clearParentZNode");
        } finally {
            fmt.elector.terminateConnection();
        }
        check(zk(() -> authed.exists(PARENT, false)) == null, PARENT + " still exists");
        Stat root = zk(() -> authed.exists("/hadoop-ha", false));
        check(root != null && root.getNumChildren() == 0, "/hadoop-ha: " + (root == null ? "gone" : root.getNumChildren() + " children"));
        noFatal(m);
    }

    static String kinds(List<Event> evs) {
        List<String> k = new ArrayList<>();
        for (Event e : evs) k.add(e.kind);
        return k.toString();
    }
    static String describe(List<Event> evs) {
        List<String> k = new ArrayList<>();
        for (Event e : evs) k.add(e.node + " " + e.kind + (e.data == null ? "" : "(" + str(e.data) + ")"));
        return k.toString();
    }
    static String sessionList(long[] ids) {
        List<String> k = new ArrayList<>();
        for (long id : ids) k.add(hex(id));
        return k.toString();
    }

    interface Scenario { void run() throws Exception; }

    static void run(String name, Scenario s) {
        current = name;
        System.out.printf("--- %s [%.3fs]%n", name, secs());
        long t0 = System.nanoTime();
        try {
            s.run();
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
        if (args.length != 3) {
            System.err.println("usage: Elector HOST:PORT SERVER_DIR SERVERS_SH");
            System.exit(2);
        }
        connect = args[0];
        serverDir = args[1];
        serversSh = args[2];
        Thread watchdog = new Thread(() -> {
            try { Thread.sleep(WATCHDOG_MS); } catch (InterruptedException e) { return; }
            System.out.println("FAIL " + current + ": harness watchdog: no end after " + WATCHDOG_MS / 1000 + " s");
            for (var e : Thread.getAllStackTraces().entrySet()) {
                System.err.println("thread " + e.getKey().getName());
                for (StackTraceElement f : e.getValue()) System.err.println("    at " + f);
            }
            System.out.println(passed + " passed, " + (failed + 1) + " failed");
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        // What ZKFC builds from ha.zookeeper.acl and ha.zookeeper.auth.
        String digest = DigestAuthenticationProvider.generateDigest(AUTH);   // hdfs-zkfcs:<base64 sha1>
        acls = ZKUtil.parseACLs("digest:" + digest + ":rwcda");
        auths = ZKUtil.parseAuth("digest:" + AUTH);
        System.out.println("  ha.zookeeper.acl = digest:" + digest + ":rwcda");

        plain = connectPlain(false);
        authed = connectPlain(true);
        for (String name : new String[] {"nn1", "nn2", "nn3"}) {
            Node n = new Node(name);
            NODES.add(n);
            n.elector = newElector(n);
        }
        run("elect", Elector::elect);
        run("expire-active", Elector::expireActive);
        run("quit-needfence", Elector::quitNeedFence);
        run("quit-graceful", Elector::quitGraceful);
        run("server-restart", Elector::serverRestart);
        run("restart-sessions-kept", Elector::restartSessionsKept);
        run("clear-parent", Elector::clearParent);
        current = "(teardown)";
        for (Node n : NODES) {
            try { n.elector.terminateConnection(); } catch (RuntimeException ignored) { }
        }
        plain.close();
        authed.close();
        System.out.printf("  total %.1fs%n", secs());
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
