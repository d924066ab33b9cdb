// Transcript.java — a deterministic scenario run with the official ZooKeeper Java
// client (3.9.5) and Apache Curator (5.9.0), printed as a NORMALIZED transcript.
//
// Why it exists: run against Apache ZooKeeper and against zkd, the two transcripts
// must be identical.  Every line is something both servers must agree on — paths,
// data, versions, child lists, ACLs, error codes, per-op multi results, watch
// events, recipe outcomes — and nothing they may differ in (zxids, times, session
// ids, Curator's random lock-node names).  Relations between zxids/times that the
// protocol fixes are printed as booleans instead.
//
// Usage: java -cp $CP:. Transcript 127.0.0.1:PORT > transcript.txt
// Exit status 0 when the scenario ran; 1 if any step threw something other than a
// KeeperException (those lines say UNEXPECTED), 2 on a fatal error.
//
// Line format:  <operation> -> <result>     e.g.  delete /jt/p v=7 -> BADVERSION
// Watch events are printed as indented "  event <Type> <path>" lines, sorted
// within one step.  Everything lives under /jt, which is removed first.

import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.stream.*;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class Transcript {
    static final String B = "/jt";                  // everything happens below this node
    static final List<ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;
    static final int SESSION_TIMEOUT = 10000;       // within tickTime 2000's bounds 4000..40000
    static final long EVENT_WAIT_MS = 5000;         // how long to wait for an expected event
    static final long QUIET_MS = 300;               // how long "no more events" is watched

    static String hostPort;
    static int unexpected = 0;
    static ZooKeeper a, b;                          // two sessions: a acts, b mostly watches
    static long sessionA, sessionB;

    // ---------------------------------------------------------------- helpers

    interface Call { Object call() throws Exception; }

    static void out(String s) { System.out.println(s); }

    static void section(String name) { out("# " + name); }

    /** Run one step and print "desc -> result" (or the KeeperException code name). */
    static Object step(String desc, Call c) {
        String r;
        Object o = null;
        try {
            o = c.call();
            r = show(o);
        } catch (KeeperException e) {
            r = e.code().name();
            if (e.getResults() != null) r += " " + showResults(e.getResults());
        } catch (Exception e) {
            unexpected++;
            r = "UNEXPECTED " + e.getClass().getSimpleName() + ": " + e.getMessage();
            e.printStackTrace();
        }
        out(desc + " -> " + r);
        return o;
    }

    static String show(Object o) {
        if (o == null) return "null";
        if (o instanceof Stat) return stat((Stat) o);
        if (o instanceof byte[]) return data((byte[]) o);
        if (o instanceof List && !((List<?>) o).isEmpty() && ((List<?>) o).get(0) instanceof OpResult) {
            @SuppressWarnings("unchecked") List<OpResult> l = (List<OpResult>) o;
            return showResults(l);
        }
        return o.toString();
    }

    static String data(byte[] d) {
        return d == null ? "data=null" : "data=" + new String(d, StandardCharsets.UTF_8);
    }

    static String owner(long o) {
        if (o == 0) return "none";
        if (o == sessionA) return "A";
        if (o == sessionB) return "B";
        // containers (Long.MIN_VALUE) and TTL nodes (0xFF.. | ttl) encode their type here
        if (o == Long.MIN_VALUE || (o >>> 56) == 0xFF) return String.format("0x%016x", o);
        return "other-session";
    }

    static String stat(Stat s) {
        return "v=" + s.getVersion() + " cv=" + s.getCversion() + " av=" + s.getAversion()
            + " len=" + s.getDataLength() + " nc=" + s.getNumChildren()
            + " eph=" + owner(s.getEphemeralOwner());
    }

    static String showResults(List<OpResult> rs) {
        List<String> parts = new ArrayList<>();
        for (OpResult r : rs) {
            if (r instanceof OpResult.CreateResult) {
                OpResult.CreateResult c = (OpResult.CreateResult) r;
                parts.add("create " + c.getPath() + (c.getStat() != null ? " " + stat(c.getStat()) : ""));
            } else if (r instanceof OpResult.SetDataResult) {
                parts.add("setData " + stat(((OpResult.SetDataResult) r).getStat()));
            } else if (r instanceof OpResult.DeleteResult) {
                parts.add("delete");
            } else if (r instanceof OpResult.CheckResult) {
                parts.add("check");
            } else if (r instanceof OpResult.GetDataResult) {
                OpResult.GetDataResult g = (OpResult.GetDataResult) r;
                parts.add("getData " + data(g.getData()) + " " + stat(g.getStat()));
            } else if (r instanceof OpResult.GetChildrenResult) {
                List<String> ch = new ArrayList<>(((OpResult.GetChildrenResult) r).getChildren());
                Collections.sort(ch);
                parts.add("getChildren " + ch);
            } else if (r instanceof OpResult.ErrorResult) {
                int err = ((OpResult.ErrorResult) r).getErr();
                parts.add("error " + KeeperException.Code.get(err).name());
            } else {
                parts.add(r.getClass().getSimpleName());
            }
        }
        return "[" + String.join(", ", parts) + "]";
    }

    static String acls(List<ACL> l) {
        return l.stream().map(x -> x.getId().getScheme() + ":" + x.getId().getId() + ":" + perms(x.getPerms()))
                .sorted().collect(Collectors.joining(", ", "[", "]"));
    }

    static String perms(int p) {
        StringBuilder sb = new StringBuilder();
        if ((p & ZooDefs.Perms.CREATE) != 0) sb.append('c');
        if ((p & ZooDefs.Perms.DELETE) != 0) sb.append('d');
        if ((p & ZooDefs.Perms.READ) != 0) sb.append('r');
        if ((p & ZooDefs.Perms.WRITE) != 0) sb.append('w');
        if ((p & ZooDefs.Perms.ADMIN) != 0) sb.append('a');
        return sb.toString();
    }

    static List<String> sorted(List<String> l) { List<String> c = new ArrayList<>(l); Collections.sort(c); return c; }

    static byte[] bytes(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    // Watch events of session b (and a) go to one queue as "Type path" strings.
    static final BlockingQueue<String> events = new LinkedBlockingQueue<>();

    /** A watcher that records "Type path [tag]"; every call gives a distinct object. */
    static Watcher watcher(String tag) {
        return new Watcher() {
            public void process(WatchedEvent e) {
                if (e.getType() == Watcher.Event.EventType.None) return;   // connection state
                events.add(e.getType() + " " + e.getPath() + " [" + tag + "]"
                    + (e.getState() == Watcher.Event.KeeperState.SyncConnected ? "" : " state=" + e.getState()));
            }
        };
    }

    /** Wait for n events (or EVENT_WAIT_MS), then print them sorted. */
    static void expectEvents(int n) throws InterruptedException {
        List<String> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + EVENT_WAIT_MS;
        while (got.size() < n) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) break;
            String e = events.poll(left, TimeUnit.MILLISECONDS);
            if (e != null) got.add(e);
        }
        Collections.sort(got);
        for (String e : got) out("  event " + e);
        if (got.size() < n) out("  (only " + got.size() + " of " + n + " expected events within " + EVENT_WAIT_MS + " ms)");
    }

    /** Print any event that arrives within QUIET_MS — there should be none. */
    static void expectQuiet(String what) throws InterruptedException {
        List<String> got = new ArrayList<>();
        String e = events.poll(QUIET_MS, TimeUnit.MILLISECONDS);
        while (e != null) { got.add(e); e = events.poll(50, TimeUnit.MILLISECONDS); }
        Collections.sort(got);
        out(what + " -> " + (got.isEmpty() ? "no event" : "events " + got));
    }

    static ZooKeeper connect(String name) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        Watcher nodeEvents = watcher("default");
        ZooKeeper zk = new ZooKeeper(hostPort, SESSION_TIMEOUT, e -> {
            if (e.getType() != Watcher.Event.EventType.None) nodeEvents.process(e);   // default watcher
            else if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
        });
        boolean ok = up.await(15, TimeUnit.SECONDS);
        out("connect " + name + " -> " + (ok ? "SyncConnected timeout=" + zk.getSessionTimeout()
            + " passwdlen=" + zk.getSessionPasswd().length : "TIMEOUT"));
        if (!ok) throw new IllegalStateException("cannot connect to " + hostPort);
        return zk;
    }

    /** Poll until path is gone (or timeoutMs), return whether it went. */
    static boolean waitGone(ZooKeeper zk, String path, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            if (zk.exists(path, false) == null) return true;
            Thread.sleep(100);
        }
        return zk.exists(path, false) == null;
    }

    /** Remove B with a separate super:test session (ACLs may forbid anyone else). */
    static void superCleanup() throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hostPort, SESSION_TIMEOUT, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
        });
        if (!up.await(15, TimeUnit.SECONDS)) throw new IllegalStateException("cannot connect to " + hostPort);
        zk.addAuthInfo("digest", bytes("super:test"));
        deleteTree(zk, B);
        deleteTree(zk, "/zookeeper/quota" + B);   // a quota left by an interrupted run
        if (zk.exists("/zookeeper/x", false) != null) zk.delete("/zookeeper/x", -1);
        zk.close();
    }

    static void deleteTree(ZooKeeper zk, String path) throws Exception {
        if (zk.exists(path, false) == null) return;
        for (String c : zk.getChildren(path, false)) deleteTree(zk, path + "/" + c);
        try { zk.delete(path, -1); } catch (KeeperException.NoNodeException ignore) { }
    }

    // ---------------------------------------------------------------- scenario

    public static void main(String[] args) throws Exception {
        hostPort = args.length > 0 ? args[0] : "127.0.0.1:22181";
        try {
            run();
        } catch (Throwable t) {
            out("FATAL " + t);
            t.printStackTrace();
            System.exit(2);
        }
        out("# end: " + (unexpected == 0 ? "clean" : unexpected + " unexpected exceptions"));
        System.exit(unexpected == 0 ? 0 : 1);
    }

    static void run() throws Exception {
        section("sessions");
        a = connect("A");
        b = connect("B");
        sessionA = a.getSessionId();
        sessionB = b.getSessionId();
        out("session ids distinct and non-zero -> " + (sessionA != sessionB && sessionA != 0 && sessionB != 0));
        superCleanup();     // leftovers of an interrupted earlier run
        step("getChildren /zookeeper", () -> sorted(a.getChildren("/zookeeper", false)));

        createModes();
        readWrite();
        aclsAndAuth();
        multi();
        watches();
        client39();
        quotas();
        ephemeralsAndCounts();
        ttlAndContainers();

        step("close A", () -> { a.close(); return "ok"; });

        curatorMutex();
        curatorLeaderLatch();
        curatorCache();
        curatorAtomicLong();
        curatorContainerParents();
    }

    static void createModes() throws Exception {
        section("create modes");
        Stat s = new Stat();
        step("create " + B + " PERSISTENT", () -> a.create(B, bytes("root"), OPEN, CreateMode.PERSISTENT));
        step("create " + B + "/p PERSISTENT data=p0 (create2)", () -> {
            String p = a.create(B + "/p", bytes("p0"), OPEN, CreateMode.PERSISTENT, s);
            return p + " " + stat(s);
        });
        out("new node czxid==mzxid==pzxid, ctime==mtime -> "
            + (s.getCzxid() == s.getMzxid() && s.getMzxid() == s.getPzxid() && s.getCtime() == s.getMtime()));
        step("create " + B + "/seq PERSISTENT", () -> a.create(B + "/seq", null, OPEN, CreateMode.PERSISTENT));
        step("create " + B + "/seq/s- PERSISTENT_SEQUENTIAL", () -> a.create(B + "/seq/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
        step("create " + B + "/seq/s- PERSISTENT_SEQUENTIAL", () -> a.create(B + "/seq/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
        step("create " + B + "/seq/e- EPHEMERAL_SEQUENTIAL", () -> a.create(B + "/seq/e-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL));
        step("create " + B + "/seq/x PERSISTENT", () -> a.create(B + "/seq/x", null, OPEN, CreateMode.PERSISTENT));
        step("delete " + B + "/seq/x v=0", () -> { a.delete(B + "/seq/x", 0); return "ok"; });
        step("create " + B + "/seq/s- PERSISTENT_SEQUENTIAL (after a delete)", () -> a.create(B + "/seq/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
        step("create " + B + "/seq/ (sequential, empty prefix)", () -> a.create(B + "/seq/", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
        step("getChildren " + B + "/seq", () -> sorted(a.getChildren(B + "/seq", false)));
        step("exists " + B + "/seq", () -> a.exists(B + "/seq", false));

        step("create " + B + "/e EPHEMERAL (create2)", () -> {
            Stat st = new Stat();
            return a.create(B + "/e", bytes("eph"), OPEN, CreateMode.EPHEMERAL, st) + " " + stat(st);
        });
        step("create " + B + "/e/child under an ephemeral", () -> a.create(B + "/e/child", null, OPEN, CreateMode.PERSISTENT));
        step("create " + B + "/c CONTAINER (create2)", () -> {
            Stat st = new Stat();
            return a.create(B + "/c", null, OPEN, CreateMode.CONTAINER, st) + " " + stat(st);
        });
        step("create " + B + "/ttl PERSISTENT_WITH_TTL ttl=60000 (create2)", () -> {
            Stat st = new Stat();
            return a.create(B + "/ttl", bytes("t"), OPEN, CreateMode.PERSISTENT_WITH_TTL, st, 60000) + " " + stat(st);
        });
        step("create " + B + "/ttls- PERSISTENT_SEQUENTIAL_WITH_TTL ttl=60000", () ->
            a.create(B + "/ttls-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, new Stat(), 60000));
        step("create " + B + "/null data=null", () -> a.create(B + "/null", null, OPEN, CreateMode.PERSISTENT));
        step("get " + B + "/null", () -> a.getData(B + "/null", false, null));
        step("create " + B + "/empty data=\"\"", () -> a.create(B + "/empty", new byte[0], OPEN, CreateMode.PERSISTENT));
        step("get " + B + "/empty", () -> a.getData(B + "/empty", false, null));

        section("create errors");
        step("create " + B + "/p again", () -> a.create(B + "/p", null, OPEN, CreateMode.PERSISTENT));
        step("create " + B + "/missing/child", () -> a.create(B + "/missing/child", null, OPEN, CreateMode.PERSISTENT));
        step("create " + B + "/badacl acl=nosuchscheme:x", () -> a.create(B + "/badacl", null,
            Arrays.asList(new ACL(ZooDefs.Perms.ALL, new Id("nosuchscheme", "x"))), CreateMode.PERSISTENT));
        step("create " + B + "/creator acl=auth (no auth yet)", () -> a.create(B + "/creator", null,
            ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        step("create /zookeeper/x (below the reserved node)", () -> a.create("/zookeeper/x", null, OPEN, CreateMode.PERSISTENT));
        step("delete /zookeeper/x", () -> { a.delete("/zookeeper/x", -1); return "ok"; });
        step("delete /zookeeper", () -> { a.delete("/zookeeper", -1); return "ok"; });
    }

    static void readWrite() throws Exception {
        section("get / set / exists / children / delete");
        String p = B + "/p";
        step("get " + p, () -> { Stat s = new Stat(); return data(a.getData(p, false, s)) + " " + stat(s); });
        Stat before = a.exists(p, false);
        step("set " + p + " v=0 data=p1", () -> a.setData(p, bytes("p1"), 0));
        step("set " + p + " v=0 data=px", () -> a.setData(p, bytes("px"), 0));
        step("set " + p + " v=-1 data=p2", () -> a.setData(p, bytes("p2"), -1));
        Stat after = a.exists(p, false);
        out("after set: czxid same, mzxid grew, ctime<=mtime -> "
            + (after.getCzxid() == before.getCzxid() && after.getMzxid() > before.getMzxid()
               && after.getCtime() <= after.getMtime()));
        step("get " + p, () -> { Stat s = new Stat(); return data(a.getData(p, false, s)) + " " + stat(s); });
        step("set " + B + "/none", () -> a.setData(B + "/none", bytes("x"), -1));
        step("get " + B + "/none", () -> a.getData(B + "/none", false, null));
        step("exists " + p, () -> a.exists(p, false));
        step("exists " + B + "/none", () -> a.exists(B + "/none", false));
        step("getChildren " + B + "/none", () -> a.getChildren(B + "/none", false));

        byte[] bin = new byte[256];
        for (int i = 0; i < 256; i++) bin[i] = (byte) i;
        step("create " + B + "/bin data=bytes 0..255", () -> a.create(B + "/bin", bin, OPEN, CreateMode.PERSISTENT));
        step("get " + B + "/bin round-trips", () -> Arrays.equals(bin, a.getData(B + "/bin", false, null)));
        byte[] big = new byte[1000 * 1000];
        Arrays.fill(big, (byte) 'z');
        step("create " + B + "/big data=1000000 bytes", () -> a.create(B + "/big", big, OPEN, CreateMode.PERSISTENT));
        step("get " + B + "/big round-trips", () -> Arrays.equals(big, a.getData(B + "/big", false, null)));
        step("delete " + B + "/big", () -> { a.delete(B + "/big", -1); return "ok"; });

        step("getChildren " + B, () -> sorted(a.getChildren(B, false)));
        step("getChildren2 " + B, () -> { Stat s = new Stat(); a.getChildren(B, false, s); return stat(s); });
        Stat parent = a.exists(B, false);
        step("delete " + B + "/seq (has children)", () -> { a.delete(B + "/seq", -1); return "ok"; });
        step("delete " + p + " v=7", () -> { a.delete(p, 7); return "ok"; });
        step("delete " + B + "/none", () -> { a.delete(B + "/none", -1); return "ok"; });
        step("delete " + B + "/empty v=0", () -> { a.delete(B + "/empty", 0); return "ok"; });
        Stat parent2 = a.exists(B, false);
        out("parent after child delete: cversion+1, pzxid grew, version same -> "
            + (parent2.getCversion() == parent.getCversion() + 1 && parent2.getPzxid() > parent.getPzxid()
               && parent2.getVersion() == parent.getVersion()));
        step("sync " + B, () -> {
            CompletableFuture<Integer> rc = new CompletableFuture<>();
            a.sync(B, (r, path, ctx) -> rc.complete(r), null);
            return KeeperException.Code.get(rc.get(10, TimeUnit.SECONDS)).name();
        });
    }

    static void aclsAndAuth() throws Exception {
        section("ACLs and auth");
        String p = B + "/p";
        step("getACL " + p, () -> { Stat s = new Stat(); return acls(a.getACL(p, s)) + " av=" + s.getAversion(); });
        List<ACL> readAdmin = Arrays.asList(new ACL(ZooDefs.Perms.READ | ZooDefs.Perms.ADMIN, ZooDefs.Ids.ANYONE_ID_UNSAFE));
        step("setACL " + p + " world:anyone:ra v=0", () -> a.setACL(p, readAdmin, 0));
        step("setACL " + p + " world:anyone:ra v=0 (stale)", () -> a.setACL(p, readAdmin, 0));
        step("getACL " + p, () -> { Stat s = new Stat(); return acls(a.getACL(p, s)) + " av=" + s.getAversion(); });
        step("set " + p + " (read-only ACL)", () -> a.setData(p, bytes("no"), -1));
        step("create " + p + "/child (read-only ACL)", () -> a.create(p + "/child", null, OPEN, CreateMode.PERSISTENT));
        step("get " + p + " (read-only ACL)", () -> a.getData(p, false, null));

        step("create " + B + "/ip acl=ip:127.0.0.1:cdrwa", () -> a.create(B + "/ip", bytes("ip"),
            Arrays.asList(new ACL(ZooDefs.Perms.ALL, new Id("ip", "127.0.0.1"))), CreateMode.PERSISTENT));
        step("B get " + B + "/ip", () -> b.getData(B + "/ip", false, null));
        step("create " + B + "/ipother acl=ip:10.1.2.3:cdrwa", () -> a.create(B + "/ipother", bytes("ip"),
            Arrays.asList(new ACL(ZooDefs.Perms.ALL, new Id("ip", "10.1.2.3"))), CreateMode.PERSISTENT));
        step("B get " + B + "/ipother", () -> b.getData(B + "/ipother", false, null));

        step("whoAmI A (no auth)", () -> whoami(a));
        step("addAuthInfo A digest u1:pw1", () -> { a.addAuthInfo("digest", bytes("u1:pw1")); return "ok"; });
        step("whoAmI A", () -> whoami(a));
        step("create " + B + "/auth acl=auth:cdrwa data=secret", () -> a.create(B + "/auth", bytes("secret"),
            ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        step("getACL " + B + "/auth", () -> acls(a.getACL(B + "/auth", new Stat())));
        out("digest id is u1:base64(sha1(u1:pw1)) -> "
            + acls(a.getACL(B + "/auth", new Stat())).contains(DigestAuthenticationProvider.generateDigest("u1:pw1")));
        step("get " + B + "/auth as A", () -> a.getData(B + "/auth", false, null));
        step("B get " + B + "/auth (no auth)", () -> b.getData(B + "/auth", false, null));
        step("B set " + B + "/auth (no auth)", () -> b.setData(B + "/auth", bytes("x"), -1));
        step("B getACL " + B + "/auth (no auth)", () -> acls(b.getACL(B + "/auth", new Stat())));
        step("create " + B + "/digest acl=digest:u2:<digest>:r + world:anyone:a", () -> a.create(B + "/digest", bytes("d"),
            Arrays.asList(new ACL(ZooDefs.Perms.READ, new Id("digest", DigestAuthenticationProvider.generateDigest("u2:pw2"))),
                    new ACL(ZooDefs.Perms.ADMIN, ZooDefs.Ids.ANYONE_ID_UNSAFE)), CreateMode.PERSISTENT));
        step("B get " + B + "/digest (no auth)", () -> b.getData(B + "/digest", false, null));
        step("addAuthInfo B digest u2:wrong", () -> { b.addAuthInfo("digest", bytes("u2:wrong")); return "ok"; });
        step("B get " + B + "/digest (wrong password)", () -> b.getData(B + "/digest", false, null));
        step("addAuthInfo B digest u2:pw2", () -> { b.addAuthInfo("digest", bytes("u2:pw2")); return "ok"; });
        step("B get " + B + "/digest", () -> b.getData(B + "/digest", false, null));
        step("B get " + B + "/auth (u2)", () -> b.getData(B + "/auth", false, null));
        step("addAuthInfo B digest super:test", () -> { b.addAuthInfo("digest", bytes("super:test")); return "ok"; });
        step("whoAmI B", () -> whoami(b));
        step("B get " + B + "/auth (super)", () -> b.getData(B + "/auth", false, null));
        step("B set " + B + "/ipother (super)", () -> b.setData(B + "/ipother", bytes("super"), -1));
        step("setACL " + p + " world:anyone:cdrwa v=1", () -> a.setACL(p, OPEN, 1));
        step("setACL " + B + "/ipother world:anyone:r v=-1 (A: no ADMIN)", () -> a.setACL(B + "/ipother", ZooDefs.Ids.READ_ACL_UNSAFE, -1));
        step("B setACL " + B + "/ipother world:anyone:r v=-1 (super)", () -> b.setACL(B + "/ipother", ZooDefs.Ids.READ_ACL_UNSAFE, -1));
        step("getACL " + B + "/ipother", () -> acls(a.getACL(B + "/ipother", new Stat())));
    }

    static String whoami(ZooKeeper zk) throws Exception {
        List<String> l = new ArrayList<>();
        for (ClientInfo ci : zk.whoAmI()) l.add(ci.getAuthScheme() + ":" + ci.getUser());
        Collections.sort(l);
        return l.toString();
    }

    static void multi() throws Exception {
        section("multi");
        String m = B + "/m";
        step("multi [create m, create m/1, setData m v=0, check m v=1, delete m/1]", () -> a.multi(List.of(
            Op.create(m, bytes("m0"), OPEN, CreateMode.PERSISTENT),
            Op.create(m + "/1", null, OPEN, CreateMode.PERSISTENT),
            Op.setData(m, bytes("m1"), 0),
            Op.check(m, 1),
            Op.delete(m + "/1", 0))));
        Stat s = new Stat();
        step("get " + m, () -> data(a.getData(m, false, s)) + " " + stat(s));
        out("all ops of one multi share one zxid (czxid==mzxid==pzxid) -> "
            + (s.getCzxid() == s.getMzxid() && s.getMzxid() == s.getPzxid()));
        step("multi [create m2, setData m v=99, create m3]", () -> a.multi(List.of(
            Op.create(B + "/m2", null, OPEN, CreateMode.PERSISTENT),
            Op.setData(m, bytes("bad"), 99),
            Op.create(B + "/m3", null, OPEN, CreateMode.PERSISTENT))));
        step("exists " + B + "/m2 (rolled back)", () -> a.exists(B + "/m2", false));
        step("multi [check m v=1, create m (exists)]", () -> a.multi(List.of(
            Op.check(m, 1), Op.create(m, null, OPEN, CreateMode.PERSISTENT))));
        step("multi [create m/a, delete /jt/none]", () -> a.multi(List.of(
            Op.create(m + "/a", null, OPEN, CreateMode.PERSISTENT), Op.delete(B + "/none", -1))));
        step("multi [create m/s- sequential, create m/e ephemeral, create m/t ttl]", () -> a.multi(List.of(
            Op.create(m + "/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
            Op.create(m + "/e", null, OPEN, CreateMode.EPHEMERAL),
            Op.create(m + "/t", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, 60000))));
        step("multi [] (empty)", () -> a.multi(List.of()).toString());
        step("multi read [getChildren m, getData m, getData /jt/none]", () -> a.multi(List.of(
            Op.getChildren(m), Op.getData(m), Op.getData(B + "/none"))));
        step("B multi [setData /jt/auth] (no auth for u1 node, B is super)", () -> b.multi(List.of(
            Op.setData(B + "/auth", bytes("s2"), -1))));
        step("multi [setData /jt/ipother] (NoAuth)", () -> a.multi(List.of(
            Op.setData(B + "/ipother", bytes("x"), -1))));
    }

    static void watches() throws Exception {
        section("one-shot watches (B watches, A writes)");
        String w = B + "/w";
        step("B exists " + w + " watch", () -> b.exists(w, watcher("exists")));
        step("create " + w, () -> a.create(w, bytes("w0"), OPEN, CreateMode.PERSISTENT));
        expectEvents(1);
        step("B get " + w + " watch", () -> b.getData(w, watcher("data"), null));
        step("set " + w, () -> a.setData(w, bytes("w1"), -1));
        expectEvents(1);
        expectQuiet("set " + w + " again (watch already fired)");
        a.setData(w, bytes("w2"), -1);
        expectQuiet("(after the second set)");
        step("B getChildren " + w + " watch", () -> b.getChildren(w, watcher("child")));
        step("create " + w + "/k", () -> a.create(w + "/k", null, OPEN, CreateMode.PERSISTENT));
        expectEvents(1);
        step("B get " + w + "/k watch + B exists " + w + "/k watch + B getChildren " + w + " watch", () -> {
            b.getData(w + "/k", watcher("data"), null);
            b.exists(w + "/k", watcher("exists"));
            return b.getChildren(w, watcher("child"));
        });
        step("delete " + w + "/k", () -> { a.delete(w + "/k", -1); return "ok"; });
        expectEvents(3);
        step("B getChildren " + w + " watch", () -> b.getChildren(w, watcher("child")));
        step("multi [create w/a, create w/b]", () -> a.multi(List.of(
            Op.create(w + "/a", null, OPEN, CreateMode.PERSISTENT), Op.create(w + "/b", null, OPEN, CreateMode.PERSISTENT))));
        expectEvents(1);
        step("B get " + w + " watch", () -> b.getData(w, watcher("data"), null));
        step("failed multi [setData w, setData w v=99]", () -> a.multi(List.of(
            Op.setData(w, bytes("x"), -1), Op.setData(w, bytes("y"), 99))));
        expectQuiet("(failed multi fires nothing)");
        step("set " + w + " (fires the pending data watch)", () -> a.setData(w, bytes("w3"), -1));
        expectEvents(1);
        step("B exists " + w + " watch (by the default watcher: true)", () -> b.exists(w, true));
        step("delete " + w + "/a, " + w + "/b", () -> { a.delete(w + "/a", -1); a.delete(w + "/b", -1); return "ok"; });
        expectQuiet("(child deletes do not fire an exists watch)");

        section("removeWatches");
        Watcher wd = watcher("data");
        Watcher wc = watcher("child");
        step("B get " + w + " watch wd", () -> b.getData(w, wd, null));
        step("B removeWatches " + w + " wd Data", () -> { b.removeWatches(w, wd, Watcher.WatcherType.Data, false); return "ok"; });
        expectEvents(1);
        step("B getChildren " + w + " watch wc", () -> b.getChildren(w, wc));
        step("B removeAllWatches " + w + " Children", () -> { b.removeAllWatches(w, Watcher.WatcherType.Children, false); return "ok"; });
        expectEvents(1);
        step("B removeWatches " + w + " wd Data (none left)", () -> { b.removeWatches(w, wd, Watcher.WatcherType.Data, false); return "ok"; });
        step("B removeAllWatches " + B + "/none Any", () -> { b.removeAllWatches(B + "/none", Watcher.WatcherType.Any, false); return "ok"; });
        // the default watcher's exists watch on w (set above) is still there
        step("B removeAllWatches " + w + " Data", () -> { b.removeAllWatches(w, Watcher.WatcherType.Data, false); return "ok"; });
        expectEvents(1);
        step("set " + w + " (no watches left)", () -> a.setData(w, bytes("w4"), -1));
        expectQuiet("(after set with all watches removed)");

        section("persistent watches");
        Watcher wp = watcher("persistent");
        step("B addWatch " + w + " PERSISTENT", () -> { b.addWatch(w, wp, AddWatchMode.PERSISTENT); return "ok"; });
        step("set " + w, () -> a.setData(w, bytes("w5"), -1));
        expectEvents(1);
        step("create " + w + "/c", () -> a.create(w + "/c", null, OPEN, CreateMode.PERSISTENT));
        expectEvents(1);
        step("set " + w + "/c (child data: not watched)", () -> a.setData(w + "/c", bytes("c"), -1));
        expectQuiet("(persistent watch ignores child data)");
        step("delete " + w + "/c", () -> { a.delete(w + "/c", -1); return "ok"; });
        expectEvents(1);
        step("set " + w + " again (still registered)", () -> a.setData(w, bytes("w6"), -1));
        expectEvents(1);
        step("B removeWatches " + w + " wp Any", () -> { b.removeWatches(w, wp, Watcher.WatcherType.Any, false); return "ok"; });
        expectEvents(1);
        step("set " + w + " (removed)", () -> a.setData(w, bytes("w7"), -1));
        expectQuiet("(after removing the persistent watch)");

        section("persistent recursive watches");
        String r = B + "/r";
        Watcher wr = watcher("recursive");
        step("B addWatch " + r + " PERSISTENT_RECURSIVE (node absent)", () -> { b.addWatch(r, wr, AddWatchMode.PERSISTENT_RECURSIVE); return "ok"; });
        step("create " + r, () -> a.create(r, null, OPEN, CreateMode.PERSISTENT));
        expectEvents(1);
        step("create " + r + "/a", () -> a.create(r + "/a", null, OPEN, CreateMode.PERSISTENT));
        expectEvents(1);
        step("create " + r + "/a/b", () -> a.create(r + "/a/b", bytes("b0"), OPEN, CreateMode.PERSISTENT));
        expectEvents(1);
        step("set " + r + "/a/b", () -> a.setData(r + "/a/b", bytes("b1"), -1));
        expectEvents(1);
        step("multi [set r/a, create r/a/c, delete r/a/b]", () -> a.multi(List.of(
            Op.setData(r + "/a", bytes("a"), -1), Op.create(r + "/a/c", null, OPEN, CreateMode.EPHEMERAL),
            Op.delete(r + "/a/b", -1))));
        expectEvents(3);
        step("create " + B + "/rr (sibling prefix, not below " + r + ")", () -> a.create(B + "/rr", null, OPEN, CreateMode.PERSISTENT));
        expectQuiet("(sibling with the same prefix)");
        step("B get " + r + "/a watch (one-shot on top of recursive)", () -> b.getData(r + "/a", watcher("data"), null));
        step("set " + r + "/a", () -> a.setData(r + "/a", bytes("a2"), -1));
        expectEvents(2);
        step("B removeWatches " + r + " wr PersistentRecursive", () -> { b.removeWatches(r, wr, Watcher.WatcherType.Any, false); return "ok"; });
        expectEvents(1);
        step("set " + r + "/a (removed)", () -> a.setData(r + "/a", bytes("a3"), -1));
        expectQuiet("(after removing the recursive watch)");
        step("B addWatch " + B + " PERSISTENT_RECURSIVE (default watcher)", () -> { b.addWatch(B, AddWatchMode.PERSISTENT_RECURSIVE); return "ok"; });
        step("delete " + r + "/a/c", () -> { a.delete(r + "/a/c", -1); return "ok"; });
        expectEvents(1);
        step("B removeAllWatches " + B + " Any", () -> { b.removeAllWatches(B, Watcher.WatcherType.Any, false); return "ok"; });
        expectEvents(1);
    }

    /** What only a 3.9 client can ask for: the txn zxid in a watch event, create2
     *  inside a multi, several watch modes on one path, persistent watches removed
     *  one kind at a time. */
    static void client39() throws Exception {
        section("3.9 client: event zxids, create2 in multi, watch modes on one path");
        String z = B + "/z39";
        BlockingQueue<WatchedEvent> zev = new LinkedBlockingQueue<>();
        Watcher zw = zev::add;
        step("B exists " + z + " watch (absent)", () -> b.exists(z, zw));
        Stat zs = new Stat();
        step("create " + z + " (create2)", () -> a.create(z, bytes("z0"), OPEN, CreateMode.PERSISTENT, zs));
        WatchedEvent created = zev.poll(EVENT_WAIT_MS, TimeUnit.MILLISECONDS);
        out("  NodeCreated event carries the create's zxid -> "
            + (created != null && created.getType() == Watcher.Event.EventType.NodeCreated
               && created.getZxid() == zs.getCzxid()));
        step("B get " + z + " watch", () -> b.getData(z, zw, null));
        Stat set = (Stat) step("set " + z, () -> a.setData(z, bytes("z1"), -1));
        WatchedEvent changed = zev.poll(EVENT_WAIT_MS, TimeUnit.MILLISECONDS);
        out("  NodeDataChanged event carries the set's zxid -> "
            + (changed != null && set != null && changed.getZxid() == set.getMzxid()));

        step("multi [create2 z/a, create2 z/t ttl=60000, setData z]", () -> a.multi(List.of(
            Op.create(z + "/a", bytes("a"), CreateOptions.newBuilder(OPEN, CreateMode.PERSISTENT).build()),
            Op.create(z + "/t", null, CreateOptions.newBuilder(OPEN, CreateMode.PERSISTENT_WITH_TTL).withTtl(60000).build()),
            Op.setData(z, bytes("z2"), -1))));
        step("multi [create2 z/a (exists), create2 z/b]", () -> a.multi(List.of(
            Op.create(z + "/a", null, CreateOptions.newBuilder(OPEN, CreateMode.PERSISTENT).build()),
            Op.create(z + "/b", null, CreateOptions.newBuilder(OPEN, CreateMode.PERSISTENT).build()))));

        Watcher wp = watcher("persistent");
        Watcher wr = watcher("recursive");
        Watcher wd = watcher("data");
        step("B addWatch " + z + " PERSISTENT wp", () -> { b.addWatch(z, wp, AddWatchMode.PERSISTENT); return "ok"; });
        step("B addWatch " + z + " PERSISTENT_RECURSIVE wr", () -> { b.addWatch(z, wr, AddWatchMode.PERSISTENT_RECURSIVE); return "ok"; });
        step("B get " + z + " watch wd", () -> b.getData(z, wd, null));
        step("set " + z + " (three watches of three modes)", () -> a.setData(z, bytes("z3"), -1));
        expectEvents(3);
        step("create " + z + "/c", () -> a.create(z + "/c", null, OPEN, CreateMode.PERSISTENT));
        expectEvents(2);
        step("B removeWatches " + z + " wp Persistent", () -> { b.removeWatches(z, wp, Watcher.WatcherType.Persistent, false); return "ok"; });
        expectEvents(1);
        step("B removeWatches " + z + " wr Persistent (it is recursive)", () -> { b.removeWatches(z, wr, Watcher.WatcherType.Persistent, false); return "ok"; });
        step("set " + z + " (only the recursive watch is left)", () -> a.setData(z, bytes("z4"), -1));
        expectEvents(1);
        step("B removeWatches " + z + " wr PersistentRecursive", () -> { b.removeWatches(z, wr, Watcher.WatcherType.PersistentRecursive, false); return "ok"; });
        expectEvents(1);
        step("set " + z + " (no watches left)", () -> a.setData(z, bytes("z5"), -1));
        expectQuiet("(after removing both persistent watches)");
        step("B addWatch " + z + " PERSISTENT (default watcher)", () -> { b.addWatch(z, AddWatchMode.PERSISTENT); return "ok"; });
        step("B addWatch " + z + " PERSISTENT_RECURSIVE (default watcher)", () -> { b.addWatch(z, AddWatchMode.PERSISTENT_RECURSIVE); return "ok"; });
        step("B removeAllWatches " + z + " PersistentRecursive", () -> { b.removeAllWatches(z, Watcher.WatcherType.PersistentRecursive, false); return "ok"; });
        expectEvents(1);
        step("set " + z + "/c (the recursive watch is gone)", () -> a.setData(z + "/c", bytes("c"), -1));
        expectQuiet("(child write after removing the recursive watch)");
        step("set " + z + " (the persistent watch stays)", () -> a.setData(z, bytes("z6"), -1));
        expectEvents(1);
        step("B removeAllWatches " + z + " Persistent", () -> { b.removeAllWatches(z, Watcher.WatcherType.Persistent, false); return "ok"; });
        expectEvents(1);
    }

    static String dataOf(String path) throws Exception {
        return new String(a.getData(path, false, null), StandardCharsets.UTF_8);
    }

    /** zkCli's setquota/delquota (their static helpers), the usage the server keeps in
     *  zookeeper_stats, and hard limits (both servers run with enforceQuota). */
    static void quotas() throws Exception {
        section("quotas (enforceQuota=true)");
        String q = B + "/q";
        String qs = "/zookeeper/quota" + q + "/zookeeper_stats";
        String ql = "/zookeeper/quota" + q + "/zookeeper_limits";
        step("create " + q + " data=12345", () -> a.create(q, bytes("12345"), OPEN, CreateMode.PERSISTENT));
        step("create " + q + "/a data=ab", () -> a.create(q + "/a", bytes("ab"), OPEN, CreateMode.PERSISTENT));
        step("setquota -n 3 " + q, () -> {
            StatsTrack t = new StatsTrack();
            t.setCount(3);
            return org.apache.zookeeper.cli.SetQuotaCommand.createQuota(a, q, t);
        });
        step("get limits", () -> dataOf(ql));
        step("get stats", () -> dataOf(qs));
        Stat st0 = a.exists(qs, false);
        step("create " + q + "/b data=xyz", () -> a.create(q + "/b", bytes("xyz"), OPEN, CreateMode.PERSISTENT));
        step("create " + q + "/b/c (beyond the soft limit)", () -> a.create(q + "/b/c", null, OPEN, CreateMode.PERSISTENT));
        step("get stats", () -> dataOf(qs));
        step("set " + q + "/a data=a", () -> a.setData(q + "/a", bytes("a"), -1));
        step("delete " + q + "/b/c", () -> { a.delete(q + "/b/c", -1); return "ok"; });
        step("get stats", () -> dataOf(qs));
        Stat st1 = a.exists(qs, false);
        out("stats node rewritten in place: same version and mzxid -> "
            + (st0 != null && st1 != null && st0.getVersion() == st1.getVersion() && st0.getMzxid() == st1.getMzxid()));
        step("setquota -N 4 -B 10 " + q + " (hard limits added)", () -> {
            StatsTrack t = new StatsTrack();
            t.setCountHardLimit(4);
            t.setByteHardLimit(10);
            return org.apache.zookeeper.cli.SetQuotaCommand.createQuota(a, q, t);
        });
        step("get limits", () -> dataOf(ql));
        step("create " + q + "/c", () -> a.create(q + "/c", null, OPEN, CreateMode.PERSISTENT));
        step("create " + q + "/d (count over the hard limit)", () -> a.create(q + "/d", null, OPEN, CreateMode.PERSISTENT));
        step("set " + q + "/c data=123 (bytes over the hard limit)", () -> a.setData(q + "/c", bytes("123"), -1));
        step("set " + q + "/c data=12 v=7 (quota before version)", () -> a.setData(q + "/c", bytes("12"), 7));
        step("set " + q + "/c data=1", () -> a.setData(q + "/c", bytes("1"), -1));
        step("multi [delete c, create d] (checked against the usage before the multi)", () -> a.multi(List.of(
            Op.delete(q + "/c", -1), Op.create(q + "/d", null, OPEN, CreateMode.PERSISTENT))));
        step("multi [delete c, set a data=x]", () -> a.multi(List.of(
            Op.delete(q + "/c", -1), Op.setData(q + "/a", bytes("x"), -1))));
        step("multi [create d, create e] (each alone fits)", () -> a.multi(List.of(
            Op.create(q + "/d", null, OPEN, CreateMode.PERSISTENT), Op.create(q + "/e", null, OPEN, CreateMode.PERSISTENT))));
        step("create " + q + "/f (over: the multi went past the limit)", () -> a.create(q + "/f", null, OPEN, CreateMode.PERSISTENT));
        step("get stats", () -> dataOf(qs));
        step("setquota -n 1 " + q + "/b (below a quota)", () -> {
            StatsTrack t = new StatsTrack();
            t.setCount(1);
            try {
                return org.apache.zookeeper.cli.SetQuotaCommand.createQuota(a, q + "/b", t);
            } catch (IllegalArgumentException e) {
                return "refused: " + e.getMessage();
            }
        });
        step("delquota " + q, () -> org.apache.zookeeper.cli.DelQuotaCommand.delQuota(a, q, null));
        step("exists limits after delquota", () -> a.exists(ql, false) == null ? "gone" : "still there");
        step("create " + q + "/g (no quota left)", () -> a.create(q + "/g", null, OPEN, CreateMode.PERSISTENT));
        step("exists /zookeeper/quota" + B + " (delquota trims the folders)", () -> a.exists("/zookeeper/quota" + B, false) == null ? "gone" : "still there");
    }

    static void ephemeralsAndCounts() throws Exception {
        section("ephemerals, session close, counts");
        step("A getEphemerals " + B, () -> sorted(a.getEphemerals(B)));
        step("A getEphemerals", () -> sorted(a.getEphemerals()));
        step("B create " + B + "/eb EPHEMERAL", () -> b.create(B + "/eb", null, OPEN, CreateMode.EPHEMERAL));
        step("B create " + B + "/eb2- EPHEMERAL_SEQUENTIAL", () -> b.create(B + "/eb2-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL));
        step("B getEphemerals " + B + "/e", () -> sorted(b.getEphemerals(B + "/e")));
        step("A exists " + B + "/eb", () -> a.exists(B + "/eb", false));
        step("A exists " + B + "/eb watch", () -> a.exists(B + "/eb", watcher("exists")));
        step("close B", () -> { b.close(); return "ok"; });
        expectEvents(1);
        step("A exists " + B + "/eb after B closed", () -> a.exists(B + "/eb", false));
        step("getAllChildrenNumber " + B, () -> a.getAllChildrenNumber(B));
        step("getAllChildrenNumber " + B + "/seq", () -> a.getAllChildrenNumber(B + "/seq"));
        step("getAllChildrenNumber " + B + "/none", () -> a.getAllChildrenNumber(B + "/none"));
        step("getChildren " + B, () -> sorted(a.getChildren(B, false)));
    }

    static void ttlAndContainers() throws Exception {
        section("TTL and container nodes (server checks every 1000 ms)");
        step("create " + B + "/ttl1 PERSISTENT_WITH_TTL ttl=500", () -> a.create(B + "/ttl1", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 500));
        step("create " + B + "/ttl2 PERSISTENT_WITH_TTL ttl=500 + child", () -> {
            a.create(B + "/ttl2", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 500);
            return a.create(B + "/ttl2/keep", null, OPEN, CreateMode.PERSISTENT);
        });
        step("create " + B + "/k CONTAINER + child k/x", () -> {
            a.create(B + "/k", null, OPEN, CreateMode.CONTAINER);
            return a.create(B + "/k/x", null, OPEN, CreateMode.PERSISTENT);
        });
        step("create " + B + "/k2 CONTAINER + child k2/x", () -> {
            a.create(B + "/k2", null, OPEN, CreateMode.CONTAINER);
            return a.create(B + "/k2/x", null, OPEN, CreateMode.PERSISTENT);
        });
        step("A exists " + B + "/k watch", () -> a.exists(B + "/k", watcher("exists")));
        step("delete " + B + "/k/x (container now empty)", () -> { a.delete(B + "/k/x", -1); return "ok"; });
        step("wait <=8s: " + B + "/ttl1 expired", () -> waitGone(a, B + "/ttl1", 8000));
        step("wait <=8s: " + B + "/k reaped", () -> waitGone(a, B + "/k", 8000));
        expectEvents(1);
        step("wait 2.5s: " + B + "/ttl2 (has a child) still there", () -> !waitGone(a, B + "/ttl2", 2500));
        step(B + "/k2 (still has a child) still there", () -> a.exists(B + "/k2", false) != null);
        step(B + "/c (container that never had a child) still there", () -> a.exists(B + "/c", false) != null);
        step(B + "/ttl (ttl=60000) still there", () -> a.exists(B + "/ttl", false) != null);
        step("create " + B + "/k2/x again (container not reaped while it has a child)", () ->
            a.create(B + "/k2/x", null, OPEN, CreateMode.PERSISTENT));
    }

    // ---------------------------------------------------------------- Curator

    static CuratorFramework curator(String name) throws Exception {
        CuratorFramework cf = CuratorFrameworkFactory.builder().connectString(hostPort)
            .sessionTimeoutMs(SESSION_TIMEOUT).connectionTimeoutMs(10000)
            .retryPolicy(new RetryNTimes(10, 200)).build();
        cf.start();
        boolean ok = cf.blockUntilConnected(15, TimeUnit.SECONDS);
        out("curator connect " + name + " -> " + (ok ? "connected" : "TIMEOUT"));
        if (!ok) throw new IllegalStateException("Curator cannot connect to " + hostPort);
        return cf;
    }

    static void curatorMutex() throws Exception {
        section("Curator InterProcessMutex (two clients)");
        CuratorFramework c1 = curator("c1"), c2 = curator("c2");
        String lp = B + "/lock";
        InterProcessMutex m1 = new InterProcessMutex(c1, lp), m2 = new InterProcessMutex(c2, lp);
        step("c1 acquire", () -> m1.acquire(5, TimeUnit.SECONDS));
        step("c1 acquire again (reentrant)", () -> m1.acquire(5, TimeUnit.SECONDS));
        step("c2 acquire wait 500ms", () -> m2.acquire(500, TimeUnit.MILLISECONDS));
        step("lock participants", () -> m1.getParticipantNodes().size());
        ExecutorService ex = Executors.newSingleThreadExecutor();
        Future<Boolean> waiting = ex.submit(() -> m2.acquire(10, TimeUnit.SECONDS));
        // wait until c2 queued behind c1 (two lock nodes), then let go
        long deadline = System.currentTimeMillis() + 5000;
        while (m1.getParticipantNodes().size() < 2 && System.currentTimeMillis() < deadline) Thread.sleep(20);
        step("c2 queued behind c1 (participants)", () -> m1.getParticipantNodes().size());
        step("c2 not yet owner", () -> waiting.isDone());
        step("c1 release x2", () -> { m1.release(); m1.release(); return "ok"; });
        step("c2 acquire (blocked until c1 released)", () -> waiting.get(10, TimeUnit.SECONDS));
        step("c1 acquire wait 500ms (c2 holds it)", () -> m1.acquire(500, TimeUnit.MILLISECONDS));
        // InterProcessMutex belongs to the thread that acquired it
        step("c2 release", () -> ex.submit(() -> { m2.release(); return "ok"; }).get(10, TimeUnit.SECONDS));
        step("lock participants after release", () -> m1.getParticipantNodes().size());
        ex.shutdown();
        c1.close();
        c2.close();
    }

    static void curatorLeaderLatch() throws Exception {
        section("Curator LeaderLatch (two participants)");
        CuratorFramework c1 = curator("c1"), c2 = curator("c2");
        String lp = B + "/leader";
        LeaderLatch l1 = new LeaderLatch(c1, lp, "p1"), l2 = new LeaderLatch(c2, lp, "p2");
        l1.start();
        step("p1 await leadership", () -> l1.await(10, TimeUnit.SECONDS));
        l2.start();
        long deadline = System.currentTimeMillis() + 5000;
        while (l1.getParticipants().size() < 2 && System.currentTimeMillis() < deadline) Thread.sleep(20);
        step("participants", () -> l1.getParticipants().stream().map(Participant::getId).sorted().collect(Collectors.toList()));
        step("leader seen by p2", () -> l2.getLeader().getId());
        step("p1 hasLeadership, p2 hasLeadership", () -> l1.hasLeadership() + ", " + l2.hasLeadership());
        step("p2 await 300ms", () -> l2.await(300, TimeUnit.MILLISECONDS));
        step("close p1", () -> { l1.close(); return "ok"; });
        step("p2 await leadership", () -> l2.await(10, TimeUnit.SECONDS));
        step("leader seen by p2, participants", () -> l2.getLeader().getId() + " " + l2.getParticipants().size());
        l2.close();
        c1.close();
        c2.close();
    }

    static void curatorCache() throws Exception {
        section("Curator CuratorCache (listener on a small tree)");
        CuratorFramework c1 = curator("c1"), c2 = curator("c2");
        String cp = B + "/cache";
        BlockingQueue<String> cev = new LinkedBlockingQueue<>();
        c2.create().forPath(cp, bytes("0"));
        c2.create().forPath(cp + "/pre", bytes("p"));
        CuratorCache cache = CuratorCache.build(c1, cp);
        CountDownLatch init = new CountDownLatch(1);
        cache.listenable().addListener(CuratorCacheListener.builder()
            .forAll((type, oldData, data) -> cev.add(type + " " + describe(oldData) + " -> " + describe(data)))
            .forInitialized(init::countDown).build());
        cache.start();
        step("cache initialized", () -> init.await(10, TimeUnit.SECONDS));
        cacheEvents(cev, 2, "initial");
        step("create " + cp + "/a data=1", () -> c2.create().forPath(cp + "/a", bytes("1")));
        cacheEvents(cev, 1, "");
        step("set " + cp + "/a data=2", () -> stat(c2.setData().forPath(cp + "/a", bytes("2"))));
        cacheEvents(cev, 1, "");
        step("create " + cp + "/a/b data=3", () -> c2.create().forPath(cp + "/a/b", bytes("3")));
        cacheEvents(cev, 1, "");
        step("delete " + cp + "/a/b", () -> { c2.delete().forPath(cp + "/a/b"); return "ok"; });
        cacheEvents(cev, 1, "");
        step("delete " + cp + "/pre, " + cp + "/a", () -> { c2.delete().forPath(cp + "/pre"); c2.delete().forPath(cp + "/a"); return "ok"; });
        cacheEvents(cev, 2, "");
        step("cache contents", () -> cache.stream().map(d -> d.getPath() + "=" + new String(d.getData(), StandardCharsets.UTF_8))
            .sorted().collect(Collectors.toList()));
        cache.close();
        c1.close();
        c2.close();
    }

    static String describe(ChildData d) {
        if (d == null) return "-";
        return d.getPath() + "(" + (d.getData() == null ? "null" : new String(d.getData(), StandardCharsets.UTF_8))
            + ",v=" + d.getStat().getVersion() + ")";
    }

    static void cacheEvents(BlockingQueue<String> q, int n, String label) throws InterruptedException {
        List<String> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + EVENT_WAIT_MS;
        while (got.size() < n) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) break;
            String e = q.poll(left, TimeUnit.MILLISECONDS);
            if (e != null) got.add(e);
        }
        String extra = q.poll(QUIET_MS, TimeUnit.MILLISECONDS);
        if (extra != null) got.add(extra + " (unexpected extra)");
        Collections.sort(got);
        for (String e : got) out("  cache event " + (label.isEmpty() ? "" : label + " ") + e);
        if (got.size() < n) out("  (only " + got.size() + " of " + n + " expected cache events)");
    }

    static void curatorAtomicLong() throws Exception {
        section("Curator DistributedAtomicLong (two clients)");
        CuratorFramework c1 = curator("c1"), c2 = curator("c2");
        String p = B + "/counter";
        DistributedAtomicLong d1 = new DistributedAtomicLong(c1, p, new RetryNTimes(10, 10));
        DistributedAtomicLong d2 = new DistributedAtomicLong(c2, p, new RetryNTimes(10, 10));
        step("c1 get (absent)", () -> atomic(d1.get()));
        step("c1 increment", () -> atomic(d1.increment()));
        step("c2 increment", () -> atomic(d2.increment()));
        step("c1 add 5", () -> atomic(d1.add(5L)));
        step("c2 decrement", () -> atomic(d2.decrement()));
        for (int i = 0; i < 5; i++) { d1.increment(); d2.increment(); }
        step("after 5 increments each, c2 get", () -> atomic(d2.get()));
        step("c1 compareAndSet 16 -> 100", () -> atomic(d1.compareAndSet(16L, 100L)));
        step("c2 compareAndSet 16 -> 200 (stale)", () -> atomic(d2.compareAndSet(16L, 200L)));
        step("c2 trySet 7", () -> atomic(d2.trySet(7L)));
        step("node data is 8 bytes, version", () -> {
            Stat s = c1.checkExists().forPath(p);
            return "len=" + s.getDataLength() + " v=" + s.getVersion();
        });
        c1.close();
        c2.close();
    }

    static String atomic(AtomicValue<Long> v) {
        return "ok=" + v.succeeded() + " pre=" + v.preValue() + " post=" + v.postValue();
    }

    static void curatorContainerParents() throws Exception {
        section("Curator container parents (reaped after the last child goes)");
        CuratorFramework c1 = curator("c1");
        String q = B + "/q", items = q + "/items";
        step("create " + items + "/item-1 creatingParentContainersIfNeeded", () ->
            c1.create().creatingParentContainersIfNeeded().forPath(items + "/item-1", bytes("job")));
        step("create " + items + "/item-2", () -> c1.create().forPath(items + "/item-2", bytes("job")));
        step("stat " + q, () -> stat(c1.checkExists().forPath(q)));
        step("stat " + items, () -> stat(c1.checkExists().forPath(items)));
        step("delete item-1, item-2", () -> { c1.delete().forPath(items + "/item-1"); c1.delete().forPath(items + "/item-2"); return "ok"; });
        step("wait <=8s: " + items + " reaped", () -> {
            long deadline = System.currentTimeMillis() + 8000;
            while (c1.checkExists().forPath(items) != null && System.currentTimeMillis() < deadline) Thread.sleep(100);
            return c1.checkExists().forPath(items) == null;
        });
        step("wait <=8s: " + q + " reaped (now empty too)", () -> {
            long deadline = System.currentTimeMillis() + 8000;
            while (c1.checkExists().forPath(q) != null && System.currentTimeMillis() < deadline) Thread.sleep(100);
            return c1.checkExists().forPath(q) == null;
        });
        c1.close();
        step("cleanup " + B + " (as super)", () -> { superCleanup(); return "ok"; });
    }
}
