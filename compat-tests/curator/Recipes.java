// Recipes.java — Apache Curator 5.9 recipes, run as self-checking scenarios
// against one server (the official ZooKeeper 3.9.5 Java client underneath).
//
// Why it exists: Curator's recipes are how most Java applications use ZooKeeper
// (locks, leader election, caches, queues, counters, ephemeral membership), and
// each recipe leans on a different corner of the server: sequential ephemerals
// and watches on predecessors, session expiry deleting ephemerals, persistent
// recursive watches, multi, conditional setData.  Run against Apache ZooKeeper
// 3.9.5 and against zkd, every scenario must pass on both.  Unlike java.sh's
// transcript, nothing is compared line by line: each step asserts the outcome
// the recipe promises (no two lock holders, every queue item exactly once, the
// cache equal to the server's tree, ...).
//
// Usage: java -cp "$LIB/*:." Recipes 127.0.0.1:PORT
// Output: per step `TIME <name> <ms>` then `PASS <name>` or `FAIL <name>: <why>`
// (indented lines are details); last line `N passed, M failed`.  Exit status 1
// if any step failed, 2 on a fatal error.  Stack traces go to stderr.
// Everything lives under /recipes, which is removed first.

import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import java.util.stream.*;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.async.AsyncCuratorFramework;
import org.apache.curator.x.async.api.CreateOption;
import org.apache.curator.x.async.modeled.ModelSerializer;
import org.apache.curator.x.async.modeled.ModelSpec;
import org.apache.curator.x.async.modeled.ModeledFramework;
import org.apache.curator.x.async.modeled.ZNode;
import org.apache.curator.x.async.modeled.ZPath;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class Recipes {
    static final String ROOT = "/recipes";
    static final int SESSION_TIMEOUT_MS = 10000;   // tickTime 2000 allows 4000..40000
    static final int CONNECTION_TIMEOUT_MS = 5000;

    static String connect;
    static int passed = 0, failed = 0;

    // ---------------------------------------------------------------- helpers

    /** An assertion that did not hold; its message is the FAIL reason. */
    static class Failure extends RuntimeException {
        Failure(String msg) { super(msg); }
    }

    interface Body { void run(Scope s) throws Exception; }
    interface Cond { boolean test() throws Exception; }

    /** What one step opened; closed (newest first) when the step ends. */
    static class Scope {
        final String name;
        final Deque<AutoCloseable> opened = new ConcurrentLinkedDeque<>();
        Scope(String name) { this.name = name; }

        <T extends AutoCloseable> T add(T c) { opened.push(c); return c; }

        /** A started CuratorFramework on the server under test, connected. */
        CuratorFramework client() throws Exception {
            CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(SESSION_TIMEOUT_MS)
                .connectionTimeoutMs(CONNECTION_TIMEOUT_MS)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000))
                .build();
            add(c);
            c.start();
            check(c.blockUntilConnected(10, TimeUnit.SECONDS), "client did not connect within 10 s");
            return c;
        }

        List<CuratorFramework> clients(int n) throws Exception {
            List<CuratorFramework> l = new ArrayList<>();
            for (int i = 0; i < n; i++) l.add(client());
            return l;
        }

        /** Threads of this step; interrupted when it ends. */
        ExecutorService pool(int n) {
            ExecutorService ex = Executors.newFixedThreadPool(n, daemon(name));
            add(ex::shutdownNow);
            return ex;
        }

        void info(String msg) { System.out.println("  " + name + ": " + msg); }

        void closeAll() {
            AutoCloseable c;
            while ((c = opened.poll()) != null) {
                try { c.close(); } catch (Exception e) { /* closing is best effort */ }
            }
        }
    }

    static ThreadFactory daemon(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new Failure(what);
    }

    static void checkEq(Object expected, Object actual, String what) {
        if (!Objects.equals(expected, actual))
            throw new Failure(what + ": expected " + expected + ", got " + actual);
    }

    /** Poll cond every 20 ms until it holds; Failure("timed out waiting for what") otherwise. */
    static void waitFor(String what, long ms, Cond cond) throws Exception {
        long end = System.nanoTime() + ms * 1_000_000L;
        Exception last = null;
        while (true) {
            try {
                if (cond.test()) return;
            } catch (Failure | InterruptedException e) {
                throw e;
            } catch (Exception e) {
                last = e;   // e.g. ConnectionLoss while a client reconnects: keep polling
            }
            if (System.nanoTime() > end)
                throw new Failure("timed out after " + ms + " ms waiting for " + what
                                  + (last == null ? "" : " (last error: " + last + ")"));
            Thread.sleep(20);
        }
    }

    /** Wait for every future; a task's exception fails the step. */
    static void joinAll(List<? extends Future<?>> fs, long ms, String what) throws Exception {
        long end = System.nanoTime() + ms * 1_000_000L;
        for (Future<?> f : fs) {
            try {
                f.get(Math.max(1, (end - System.nanoTime()) / 1_000_000L), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                throw new Failure(what + " did not finish within " + ms + " ms");
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                if (c instanceof Failure) throw (Failure) c;
                throw new Failure(what + " threw " + c);
            }
        }
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }
    static String s(byte[] b) { return b == null ? null : new String(b, StandardCharsets.UTF_8); }

    /** Run one step in its own thread, bounded by timeoutMs; print TIME and PASS/FAIL. */
    static void step(String name, long timeoutMs, Body body) {
        Scope scope = new Scope(name);
        ExecutorService runner = Executors.newSingleThreadExecutor(daemon("step-" + name));
        long t0 = System.nanoTime();
        String why = null;
        Future<?> f = runner.submit(() -> { body.run(scope); return null; });
        try {
            f.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            why = "step did not finish within " + timeoutMs + " ms";
            System.err.println("=== " + name + " timed out; thread dump of the step:");
            for (Map.Entry<Thread, StackTraceElement[]> en : Thread.getAllStackTraces().entrySet()) {
                if (!en.getKey().getName().startsWith("step-" + name)) continue;
                for (StackTraceElement el : en.getValue()) System.err.println("    at " + el);
            }
            f.cancel(true);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof Failure) {
                why = c.getMessage();
            } else {
                why = "unexpected " + c;
                System.err.println("=== " + name + ":");
                c.printStackTrace();
            }
        } catch (InterruptedException e) {
            why = "interrupted";
        }
        runner.shutdownNow();
        // closing must not hang the run either
        Thread closer = new Thread(scope::closeAll, "close-" + name);
        closer.setDaemon(true);
        closer.start();
        try { closer.join(15000); } catch (InterruptedException e) { /* ignore */ }
        long ms = (System.nanoTime() - t0) / 1_000_000L;
        System.out.println("TIME " + name + " " + ms);
        if (why == null) {
            passed++;
            System.out.println("PASS " + name);
        } else {
            failed++;
            System.out.println("FAIL " + name + ": " + why.replace('\n', ' '));
        }
        System.out.flush();
    }

    /**
     * Expire c's session on the server: attach a second handle to the same session
     * (id + password) and close it, as curator-test's old KillSession did.  Closing
     * the session deletes its ephemerals at once; c then hears Expired, reports
     * LOST and reconnects with a new session.  Returns the old session id once c
     * has a new one.  The caller's listener observes the states.
     */
    static long killSession(Scope sc, CuratorFramework c) throws Exception {
        ZooKeeper zk = c.getZookeeperClient().getZooKeeper();
        long id = zk.getSessionId();
        byte[] pw = zk.getSessionPasswd();
        CountDownLatch attached = new CountDownLatch(1);
        ZooKeeper killer = new ZooKeeper(connect, SESSION_TIMEOUT_MS, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) attached.countDown();
        }, id, pw);
        try {
            check(attached.await(10, TimeUnit.SECONDS),
                  "a second handle could not attach to session 0x" + Long.toHexString(id) + " within 10 s");
            checkEq(id, killer.getSessionId(), "session id of the attached handle");
        } finally {
            killer.close(5000);
        }
        // c must end up on a different session (Curator makes a new handle after Expired)
        waitFor("the client to get a new session after 0x" + Long.toHexString(id) + " was closed", 20000, () -> {
            try {
                return c.getZookeeperClient().isConnected()
                    && c.getZookeeperClient().getZooKeeper().getSessionId() != id;
            } catch (Exception e) {
                return false;
            }
        });
        return id;
    }

    static long sessionOf(CuratorFramework c) throws Exception {
        return c.getZookeeperClient().getZooKeeper().getSessionId();
    }

    /** path -> data of the server's subtree at path (path included). */
    static SortedMap<String, String> serverTree(CuratorFramework c, String path) throws Exception {
        SortedMap<String, String> m = new TreeMap<>();
        Deque<String> todo = new ArrayDeque<>(List.of(path));
        while (!todo.isEmpty()) {
            String p = todo.pop();
            try {
                m.put(p, s(c.getData().forPath(p)));
                for (String ch : c.getChildren().forPath(p)) todo.push(p + "/" + ch);
            } catch (KeeperException.NoNodeException e) {
                // deleted meanwhile
            }
        }
        return m;
    }

    // ---------------------------------------------------------------- scenarios

    /** 1. InterProcessMutex: 8 clients x 5 threads x 5 acquisitions guard a read-modify-write. */
    static void mutex(Scope sc) throws Exception {
        final int CLIENTS = 8, THREADS = 5, EACH = 5, TOTAL = CLIENTS * THREADS * EACH;
        String base = ROOT + "/mutex", lockPath = base + "/lock", counter = base + "/counter";
        List<CuratorFramework> cs = sc.clients(CLIENTS);
        cs.get(0).create().creatingParentsIfNeeded().forPath(counter, b("0"));

        AtomicInteger held = new AtomicInteger(), maxHeld = new AtomicInteger();
        AtomicInteger badVersion = new AtomicInteger(), acquired = new AtomicInteger();
        ExecutorService pool = sc.pool(CLIENTS * THREADS);
        List<Future<?>> fs = new ArrayList<>();
        for (int ci = 0; ci < CLIENTS; ci++) {
            CuratorFramework c = cs.get(ci);
            for (int t = 0; t < THREADS; t++) {
                fs.add(pool.submit(() -> {
                    InterProcessMutex lock = new InterProcessMutex(c, lockPath);
                    for (int i = 0; i < EACH; i++) {
                        check(lock.acquire(30, TimeUnit.SECONDS), "acquire timed out after 30 s");
                        try {
                            acquired.incrementAndGet();
                            int now = held.incrementAndGet();
                            maxHeld.accumulateAndGet(now, Math::max);
                            Stat st = new Stat();
                            int v = Integer.parseInt(s(c.getData().storingStatIn(st).forPath(counter)));
                            try {
                                c.setData().withVersion(st.getVersion()).forPath(counter, b(Integer.toString(v + 1)));
                            } catch (KeeperException.BadVersionException e) {
                                badVersion.incrementAndGet();
                            }
                            held.decrementAndGet();
                        } finally {
                            lock.release();
                        }
                    }
                    return null;
                }));
            }
        }
        joinAll(fs, 90000, "the lock users");
        Stat st = new Stat();
        String finalValue = s(cs.get(0).getData().storingStatIn(st).forPath(counter));
        List<String> left = cs.get(0).getChildren().forPath(lockPath);
        sc.info(TOTAL + " acquisitions by " + CLIENTS * THREADS + " threads on " + CLIENTS
                + " clients; counter=" + finalValue + " version=" + st.getVersion()
                + " maxHeld=" + maxHeld.get() + " badVersion=" + badVersion.get());
        checkEq(TOTAL, acquired.get(), "acquisitions");
        checkEq(1, maxHeld.get(), "most holders at once");
        checkEq(0, badVersion.get(), "BadVersion errors while holding the lock");
        checkEq(Integer.toString(TOTAL), finalValue, "final counter");
        checkEq(TOTAL, st.getVersion(), "counter znode version");
        checkEq(List.of(), left, "lock nodes left after every release");
    }

    /** 2a. LeaderLatch: one leader of 3; the leader's session is expired; another takes over. */
    static void leaderLatch(Scope sc) throws Exception {
        String path = ROOT + "/latch";
        List<CuratorFramework> cs = sc.clients(3);
        List<LeaderLatch> latches = new ArrayList<>();
        List<List<ConnectionState>> states = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            List<ConnectionState> st = Collections.synchronizedList(new ArrayList<>());
            cs.get(i).getConnectionStateListenable().addListener((cl, s) -> st.add(s));
            states.add(st);
            LeaderLatch l = sc.add(new LeaderLatch(cs.get(i), path, "p" + i));
            latches.add(l);
            l.start();
        }
        waitFor("exactly one leader among 3 latches", 15000,
                () -> latches.stream().filter(LeaderLatch::hasLeadership).count() == 1);
        int first = leaderIndex(latches);
        for (LeaderLatch l : latches)
            checkEq("p" + first, l.getLeader().getId(), "leader as seen by " + l.getId());
        checkEq(3, latches.get(0).getParticipants().size(), "participants");

        long t0 = System.nanoTime();
        long old = killSession(sc, cs.get(first));
        waitFor("a new leader other than p" + first + ", with p" + first + " back as a follower", 20000, () -> {
            if (latches.stream().filter(LeaderLatch::hasLeadership).count() != 1) return false;
            int now = leaderIndex(latches);
            return now != first && latches.get(first).getParticipants().size() == 3;
        });
        long failover = (System.nanoTime() - t0) / 1_000_000L;
        int second = leaderIndex(latches);
        for (LeaderLatch l : latches)
            checkEq("p" + second, l.getLeader().getId(), "leader as seen by " + l.getId());
        check(states.get(first).contains(ConnectionState.LOST),
              "p" + first + " never saw LOST after its session was closed (states " + states.get(first) + ")");
        // still exactly one a little later
        Thread.sleep(300);
        checkEq(1L, latches.stream().filter(LeaderLatch::hasLeadership).count(), "leaders 300 ms later");
        checkEq(second, leaderIndex(latches), "leader 300 ms later");
        sc.info("leader p" + first + " (session 0x" + Long.toHexString(old) + " closed) -> p" + second
                + " in " + failover + " ms; p" + first + " states " + states.get(first));
    }

    static int leaderIndex(List<LeaderLatch> ls) {
        for (int i = 0; i < ls.size(); i++) if (ls.get(i).hasLeadership()) return i;
        return -1;
    }

    /** 2b. LeaderSelector with autoRequeue: 3 selectors take turns, never two at once. */
    static void leaderSelector(Scope sc) throws Exception {
        String path = ROOT + "/selector";
        List<CuratorFramework> cs = sc.clients(3);
        AtomicInteger leaders = new AtomicInteger(), maxLeaders = new AtomicInteger();
        List<String> turns = Collections.synchronizedList(new ArrayList<>());
        List<LeaderSelector> selectors = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String id = "p" + i;
            LeaderSelector sel = new LeaderSelector(cs.get(i), path, new LeaderSelectorListenerAdapter() {
                @Override public void takeLeadership(CuratorFramework client) throws Exception {
                    int now = leaders.incrementAndGet();
                    maxLeaders.accumulateAndGet(now, Math::max);
                    turns.add(id);
                    try {
                        Thread.sleep(100);
                    } finally {
                        leaders.decrementAndGet();
                    }
                }
            });
            sel.setId(id);
            sel.autoRequeue();
            selectors.add(sc.add(sel));
        }
        // start after all are built, so that the queue forms at once
        for (LeaderSelector sel : selectors) sel.start();
        waitFor("9 leadership turns", 20000, () -> turns.size() >= 9);
        List<String> seen;
        synchronized (turns) { seen = new ArrayList<>(turns); }
        sc.info("turns " + seen);
        checkEq(1, maxLeaders.get(), "most leaders at once");
        for (int i = 0; i < 3; i++) check(seen.contains("p" + i), "p" + i + " never got leadership: " + seen);
        for (int i = 1; i < seen.size(); i++)
            check(!seen.get(i).equals(seen.get(i - 1)),
                  seen.get(i) + " led twice in a row although the others were queued: " + seen);
    }

    /** 3. CuratorCache (persistent recursive watch) mirrors /recipes/cache. */
    static void cache(Scope sc) throws Exception {
        String base = ROOT + "/cache";
        CuratorFramework writer = sc.client(), reader = sc.client();
        writer.create().creatingParentsIfNeeded().forPath(base, b("root"));
        writer.create().forPath(base + "/pre", b("p"));

        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        CountDownLatch initialized = new CountDownLatch(1);
        CuratorCache cache = sc.add(CuratorCache.build(reader, base));
        cache.listenable().addListener(CuratorCacheListener.builder()
            .forCreates(d -> events.add("CREATE " + d.getPath() + " " + s(d.getData())))
            .forChanges((o, n) -> events.add("CHANGE " + n.getPath() + " " + s(n.getData())))
            .forDeletes(d -> events.add("DELETE " + d.getPath()))
            .forInitialized(initialized::countDown)
            .build());
        cache.start();
        check(initialized.await(10, TimeUnit.SECONDS), "cache not initialized within 10 s");
        Set<String> initial = new TreeSet<>();
        events.drainTo(initial);
        checkEq(new TreeSet<>(List.of("CREATE " + base + " root", "CREATE " + base + "/pre p")), initial,
                "events of the initial load");

        // one change at a time, each followed by exactly the events it must cause
        writer.create().forPath(base + "/a", b("1"));
        expect(events, "CREATE " + base + "/a 1");
        writer.create().forPath(base + "/a/b", b("2"));
        expect(events, "CREATE " + base + "/a/b 2");
        writer.create().forPath(base + "/a/b/c", b("3"));
        expect(events, "CREATE " + base + "/a/b/c 3");
        writer.setData().forPath(base + "/a/b", b("2x"));
        expect(events, "CHANGE " + base + "/a/b 2x");
        writer.setData().forPath(base + "/a/b/c", b("3x"));
        expect(events, "CHANGE " + base + "/a/b/c 3x");
        writer.create().creatingParentsIfNeeded().forPath(base + "/a/b/c/d/e", b("5"));
        expect(events, "CREATE " + base + "/a/b/c/d ", "CREATE " + base + "/a/b/c/d/e 5");
        writer.create().withMode(CreateMode.EPHEMERAL).forPath(base + "/eph", b("e"));
        expect(events, "CREATE " + base + "/eph e");
        writer.delete().forPath(base + "/eph");
        expect(events, "DELETE " + base + "/eph");
        writer.delete().forPath(base + "/a/b/c/d/e");
        expect(events, "DELETE " + base + "/a/b/c/d/e");
        writer.delete().forPath(base + "/pre");
        expect(events, "DELETE " + base + "/pre");
        writer.setData().forPath(base, b("root2"));
        expect(events, "CHANGE " + base + " root2");
        // a sibling sharing the prefix is outside the watched tree: nothing of it may
        // reach the cache (the Java client matches recursive watches by path too, so
        // this guards the cache's view; the marker below must be the next event)
        writer.create().forPath(base + "-sibling", b("no"));
        writer.create().forPath(base + "-sibling/x", b("no"));
        writer.setData().forPath(base + "/a", b("1x"));     // a marker after the sibling
        expect(events, "CHANGE " + base + "/a 1x");

        // a burst without waiting: the cache must converge to the server's tree
        Set<String> created = new TreeSet<>(), deleted = new TreeSet<>();
        for (int i = 0; i < 30; i++) {
            String p = base + "/burst/n" + i;
            writer.create().creatingParentsIfNeeded().forPath(p, b("v" + i));
            created.add(p);
            if (i % 2 == 0) writer.setData().forPath(p, b("w" + i));
            if (i % 3 == 0) { writer.delete().forPath(p); deleted.add(p); }
        }
        writer.delete().deletingChildrenIfNeeded().forPath(base + "/a/b/c");
        deleted.addAll(List.of(base + "/a/b/c", base + "/a/b/c/d"));
        SortedMap<String, String> server = serverTree(writer, base);
        waitFor("the cache to equal the server's tree under " + base, 10000, () -> cacheView(cache).equals(server));

        // every burst node created was reported, every delete too
        Thread.sleep(300);
        List<String> rest = new ArrayList<>();
        events.drainTo(rest);
        for (String p : created)
            if (!deleted.contains(p))
                check(rest.stream().anyMatch(e -> e.startsWith("CREATE " + p + " ")), "no CREATE event for " + p);
        for (String p : deleted)
            if (!created.contains(p) || rest.stream().anyMatch(e -> e.startsWith("CREATE " + p + " ")))
                check(rest.contains("DELETE " + p), "no DELETE event for " + p + " (events " + rest + ")");
        for (String e : rest)
            check(e.split(" ")[1].equals(base) || e.split(" ")[1].startsWith(base + "/"),
                  "event outside the cached tree: " + e);
        checkEq(server, cacheView(cache), "cache after the burst");
        sc.info("cache of " + server.size() + " nodes equals the server's tree; " + rest.size() + " burst events");
    }

    static SortedMap<String, String> cacheView(CuratorCache c) {
        return c.stream().collect(Collectors.toMap(ChildData::getPath, d -> s(d.getData()) == null ? "" : s(d.getData()),
                                                   (x, y) -> x, TreeMap::new));
    }

    /** Take the next events off q, in order; each must equal (or, ending in a space, start with) its expectation. */
    static void expect(BlockingQueue<String> q, String... want) throws Exception {
        for (String w : want) {
            String got = q.poll(5, TimeUnit.SECONDS);
            if (got == null) throw new Failure("no event within 5 s; expected '" + w.trim() + "'");
            boolean ok = w.endsWith(" ") ? got.startsWith(w) : got.equals(w);
            if (!ok) throw new Failure("expected event '" + w.trim() + "', got '" + got + "'");
        }
        String extra = q.poll(50, TimeUnit.MILLISECONDS);
        if (extra != null) throw new Failure("unexpected event '" + extra + "' after '" + want[want.length - 1] + "'");
    }

    static final QueueSerializer<String> STRINGS = new QueueSerializer<>() {
        public byte[] serialize(String item) { return b(item); }
        public String deserialize(byte[] bytes) { return s(bytes); }
    };

    /** 4. DistributedQueue: 2 producers, 2 consumers on other clients; every item exactly once. */
    static void queue(Scope sc, boolean lockSafe) throws Exception {
        final int PER_PRODUCER = lockSafe ? 50 : 100;
        String path = ROOT + (lockSafe ? "/queue-safe" : "/queue");
        List<CuratorFramework> cs = sc.clients(4);
        ConcurrentMap<String, AtomicInteger> got = new ConcurrentHashMap<>();
        AtomicInteger total = new AtomicInteger();
        List<DistributedQueue<String>> consumers = new ArrayList<>();
        for (int i = 2; i < 4; i++) {
            QueueConsumer<String> consumer = new QueueConsumer<>() {
                public void consumeMessage(String item) {
                    got.computeIfAbsent(item, k -> new AtomicInteger()).incrementAndGet();
                    total.incrementAndGet();
                }
                public void stateChanged(CuratorFramework c, ConnectionState s) { }
            };
            QueueBuilder<String> qb = QueueBuilder.builder(cs.get(i), consumer, STRINGS, path);
            if (lockSafe) qb = qb.lockPath(path + "-locks");
            DistributedQueue<String> q = sc.add(qb.buildQueue());
            q.start();
            consumers.add(q);
        }
        ExecutorService pool = sc.pool(2);
        List<Future<?>> fs = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            int pi = p;
            DistributedQueue<String> q = sc.add(QueueBuilder.builder(cs.get(p), null, STRINGS, path)
                                                          .putInBackground(false).buildQueue());
            q.start();
            fs.add(pool.submit(() -> {
                for (int i = 0; i < PER_PRODUCER; i++) q.put("p" + pi + "-" + i);
                return null;
            }));
        }
        joinAll(fs, 30000, "the producers");
        int expected = 2 * PER_PRODUCER;
        waitFor(expected + " items consumed (have " + total + ")", 30000, () -> total.get() >= expected);
        Thread.sleep(500);   // give a duplicate delivery time to show up
        List<String> dup = got.entrySet().stream().filter(e -> e.getValue().get() != 1)
            .map(e -> e.getKey() + "x" + e.getValue()).sorted().collect(Collectors.toList());
        List<String> missing = new ArrayList<>();
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < PER_PRODUCER; i++) if (!got.containsKey("p" + p + "-" + i)) missing.add("p" + p + "-" + i);
        checkEq(List.of(), dup, "items consumed more than once");
        checkEq(List.of(), missing, "items never consumed");
        checkEq(expected, got.size(), "distinct items consumed");
        checkEq(expected, total.get(), "deliveries");
        waitFor("the queue node to be empty", 5000, () -> cs.get(0).getChildren().forPath(path).isEmpty());
        if (lockSafe)
            checkEq(List.of(), cs.get(0).getChildren().forPath(path + "-locks"), "lock nodes left");
        sc.info(expected + " items, each consumed once");
    }

    /** 5. SharedCount: 5 clients x 20 increments by trySetCount; a 6th client watches. */
    static void sharedCount(Scope sc) throws Exception {
        final int CLIENTS = 5, EACH = 20, TOTAL = CLIENTS * EACH;
        String path = ROOT + "/count";
        List<CuratorFramework> cs = sc.clients(CLIENTS + 1);
        SharedCount observer = sc.add(new SharedCount(cs.get(CLIENTS), path, 0));
        AtomicInteger lastSeen = new AtomicInteger(-1);
        CountDownLatch sawFinal = new CountDownLatch(1);
        observer.addListener(new SharedCountListener() {
            public void countHasChanged(SharedCountReader r, int n) {
                lastSeen.set(n);
                if (n == TOTAL) sawFinal.countDown();
            }
            public void stateChanged(CuratorFramework c, ConnectionState s) { }
        });
        observer.start();
        AtomicInteger retries = new AtomicInteger();
        ExecutorService pool = sc.pool(CLIENTS);
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            SharedCount cnt = sc.add(new SharedCount(cs.get(i), path, 0));
            cnt.start();
            fs.add(pool.submit(() -> {
                for (int k = 0; k < EACH; k++) {
                    int attempts = 0;
                    while (true) {
                        VersionedValue<Integer> v = cnt.getVersionedValue();
                        if (cnt.trySetCount(v, v.getValue() + 1)) break;
                        retries.incrementAndGet();
                        check(++attempts < 1000, "trySetCount failed 1000 times in a row");
                    }
                }
                return null;
            }));
        }
        joinAll(fs, 60000, "the incrementers");
        Stat st = new Stat();
        byte[] raw = cs.get(0).getData().storingStatIn(st).forPath(path);
        int value = java.nio.ByteBuffer.wrap(raw).getInt();
        checkEq(TOTAL, value, "final count on the server");
        checkEq(TOTAL, st.getVersion(), "count znode version (one successful set per increment)");
        check(sawFinal.await(10, TimeUnit.SECONDS),
              "the observer's listener never saw " + TOTAL + " (last saw " + lastSeen.get() + ")");
        waitFor("observer.getCount() == " + TOTAL, 5000, () -> observer.getCount() == TOTAL);
        sc.info(TOTAL + " increments, " + retries.get() + " lost races retried; observer saw " + lastSeen.get());
    }

    /** 6. PersistentNode (EPHEMERAL): its session is expired; it comes back with the same data. */
    static void persistentNode(Scope sc) throws Exception {
        String path = ROOT + "/members/m1";
        CuratorFramework owner = sc.client(), watcher = sc.client();
        owner.create().creatingParentsIfNeeded().forPath(ROOT + "/members");
        List<ConnectionState> states = Collections.synchronizedList(new ArrayList<>());
        owner.getConnectionStateListenable().addListener((c, s) -> states.add(s));
        PersistentNode node = sc.add(new PersistentNode(owner, CreateMode.EPHEMERAL, false, path, b("member-data")));
        node.start();
        check(node.waitForInitialCreate(10, TimeUnit.SECONDS), "node not created within 10 s");
        Stat st1 = watcher.checkExists().forPath(path);
        check(st1 != null, path + " does not exist after waitForInitialCreate");
        long s1 = sessionOf(owner);
        checkEq(s1, st1.getEphemeralOwner(), "ephemeralOwner of the first node (the owner's session)");

        // a raw watch on the node must see it deleted when the session is closed
        BlockingQueue<WatchedEvent> seen = new LinkedBlockingQueue<>();
        watcher.checkExists().usingWatcher((Watcher) seen::add).forPath(path);
        byte[] pw1 = owner.getZookeeperClient().getZooKeeper().getSessionPasswd();
        long t0 = System.nanoTime();
        killSession(sc, owner);
        WatchedEvent ev = seen.poll(10, TimeUnit.SECONDS);
        check(ev != null, "no watch event for " + path + " within 10 s of closing its session");
        checkEq(Watcher.Event.EventType.NodeDeleted, ev.getType(), "watch event on the ephemeral");

        long s2 = sessionOf(owner);
        check(s2 != s1, "owner still on session 0x" + Long.toHexString(s1));
        Stat[] st2 = new Stat[1];
        waitFor(path + " recreated by the new session", 15000, () -> {
            st2[0] = watcher.checkExists().forPath(path);
            return st2[0] != null && st2[0].getEphemeralOwner() == s2;
        });
        long ms = (System.nanoTime() - t0) / 1_000_000L;
        checkEq("member-data", s(watcher.getData().forPath(path)), "data of the recreated node");
        check(st2[0].getCzxid() > st1.getCzxid(), "recreated node has czxid " + st2[0].getCzxid()
              + " <= first czxid " + st1.getCzxid());
        check(states.contains(ConnectionState.LOST), "owner never saw LOST (states " + states + ")");
        check(states.indexOf(ConnectionState.RECONNECTED) > states.indexOf(ConnectionState.LOST),
              "owner did not see RECONNECTED after LOST (states " + states + ")");
        // the old session must really be gone: its id cannot be reattached
        checkEq(Watcher.Event.KeeperState.Expired, attachState(s1, pw1),
                "attaching (id and password) to the closed session 0x" + Long.toHexString(s1));
        sc.info("session 0x" + Long.toHexString(s1) + " -> 0x" + Long.toHexString(s2)
                + ", node back after " + ms + " ms; owner states " + states);
    }

    /** The first state a new handle on (an old) session id reaches: Expired or SyncConnected. */
    static Watcher.Event.KeeperState attachState(long id, byte[] pw) throws Exception {
        BlockingQueue<Watcher.Event.KeeperState> q = new LinkedBlockingQueue<>();
        ZooKeeper zk = new ZooKeeper(connect, SESSION_TIMEOUT_MS, e -> {
            if (e.getType() == Watcher.Event.EventType.None) q.add(e.getState());
        }, id, pw);
        try {
            while (true) {
                Watcher.Event.KeeperState s = q.poll(10, TimeUnit.SECONDS);
                if (s == null) return null;
                if (s == Watcher.Event.KeeperState.Expired || s == Watcher.Event.KeeperState.SyncConnected) return s;
            }
        } finally {
            zk.close(2000);
        }
    }

    /** 7. ModeledFramework (curator-x-async) with a plain-text serializer. */
    record Person(String name, int age) { }

    static final ModelSerializer<Person> PERSON = new ModelSerializer<>() {
        public byte[] serialize(Person p) { return b(p.name() + "|" + p.age()); }
        public Person deserialize(byte[] bytes) {
            String[] f = s(bytes).split("\\|");
            return new Person(f[0], Integer.parseInt(f[1]));
        }
    };

    static <T> T get(org.apache.curator.x.async.AsyncStage<T> stage) throws Exception {
        try {
            return stage.toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception) throw (Exception) e.getCause();
            throw e;
        }
    }

    static void modeled(Scope sc) throws Exception {
        CuratorFramework c = sc.client();
        ModelSpec<Person> spec = ModelSpec.builder(ZPath.parse(ROOT + "/people"), PERSON)
            .withCreateOptions(EnumSet.of(CreateOption.createParentsIfNeeded, CreateOption.setDataIfExists))
            .build();
        ModeledFramework<Person> people = ModeledFramework.wrap(AsyncCuratorFramework.wrap(c), spec);
        Map<String, Person> want = new TreeMap<>(Map.of(
            "ann", new Person("Ann", 31), "bob", new Person("Bob", 42), "cy", new Person("Cy", 7)));
        for (Map.Entry<String, Person> e : want.entrySet())
            checkEq(ROOT + "/people/" + e.getKey(), get(people.child(e.getKey()).set(e.getValue())), "set returns the path");
        for (Map.Entry<String, Person> e : want.entrySet())
            checkEq(e.getValue(), get(people.child(e.getKey()).read()), "read " + e.getKey());
        Set<String> names = get(people.children()).stream().map(ZPath::nodeName).collect(Collectors.toCollection(TreeSet::new));
        checkEq(want.keySet(), names, "children");
        // raw bytes as the serializer wrote them
        checkEq("Bob|42", s(c.getData().forPath(ROOT + "/people/bob")), "raw data of bob");

        // versioned update, then a stale one
        ZNode<Person> bob = get(people.child("bob").readAsZNode());
        int v = bob.stat().getVersion();
        get(people.child("bob").update(new Person("Bob", 43), v));
        checkEq(new Person("Bob", 43), get(people.child("bob").read()), "bob after update");
        try {
            get(people.child("bob").update(new Person("Bob", 99), v));
            throw new Failure("update with stale version " + v + " succeeded");
        } catch (KeeperException.BadVersionException expected) {
            // right
        }
        // set on an existing node (setDataIfExists) overwrites
        get(people.child("cy").set(new Person("Cy", 8)));
        checkEq(new Person("Cy", 8), get(people.child("cy").read()), "cy after set over existing");
        get(people.child("ann").delete());
        checkEq(null, get(people.child("ann").checkExists()), "ann after delete");
        List<ZNode<Person>> rest = get(people.childrenAsZNodes());
        Map<String, Person> restMap = new TreeMap<>();
        for (ZNode<Person> z : rest) restMap.put(z.path().nodeName(), z.model());
        checkEq(new TreeMap<>(Map.of("bob", new Person("Bob", 43), "cy", new Person("Cy", 8))), restMap,
                "childrenAsZNodes after delete");
        // a transaction of model ops
        get(people.inTransaction(List.of(people.child("dee").createOp(new Person("Dee", 5)),
                                         people.child("cy").deleteOp())));
        names = get(people.children()).stream().map(ZPath::nodeName).collect(Collectors.toCollection(TreeSet::new));
        checkEq(new TreeSet<>(List.of("bob", "dee")), names, "children after transaction");
        sc.info("set/read/update/delete/children/transaction through ModeledFramework");
    }

    /** 8a. InterProcessSemaphoreV2 with 2 leases: 6 clients x 2 threads; never more than 2 held. */
    static void semaphore(Scope sc) throws Exception {
        final int CLIENTS = 6, THREADS = 2, EACH = 5;
        String path = ROOT + "/semaphore";
        List<CuratorFramework> cs = sc.clients(CLIENTS);
        AtomicInteger held = new AtomicInteger(), maxHeld = new AtomicInteger(), leases = new AtomicInteger();
        ExecutorService pool = sc.pool(CLIENTS * THREADS);
        List<Future<?>> fs = new ArrayList<>();
        for (CuratorFramework c : cs) {
            for (int t = 0; t < THREADS; t++) {
                fs.add(pool.submit(() -> {
                    InterProcessSemaphoreV2 sem = new InterProcessSemaphoreV2(c, path, 2);
                    for (int i = 0; i < EACH; i++) {
                        Lease lease = sem.acquire(30, TimeUnit.SECONDS);
                        check(lease != null, "acquire timed out after 30 s");
                        try {
                            leases.incrementAndGet();
                            maxHeld.accumulateAndGet(held.incrementAndGet(), Math::max);
                            Thread.sleep(20);
                            held.decrementAndGet();
                        } finally {
                            sem.returnLease(lease);
                        }
                    }
                    return null;
                }));
            }
        }
        joinAll(fs, 60000, "the lease users");
        int total = CLIENTS * THREADS * EACH;
        checkEq(total, leases.get(), "leases granted");
        check(maxHeld.get() <= 2, "up to " + maxHeld.get() + " leases held at once (limit 2)");
        checkEq(2, maxHeld.get(), "most leases held at once, with 12 contenders holding 20 ms each");
        waitFor("no lease nodes left", 5000, () -> cs.get(0).getChildren().forPath(path + "/leases").isEmpty());
        sc.info(total + " leases, at most " + maxHeld.get() + " at once");
    }

    /** 8b. DistributedDoubleBarrier of 4: nobody enters before all arrive, nobody leaves before all leave. */
    static void doubleBarrier(Scope sc) throws Exception {
        final int N = 4;
        String path = ROOT + "/barrier";
        List<CuratorFramework> cs = sc.clients(N);
        AtomicInteger arrived = new AtomicInteger(), leaving = new AtomicInteger();
        ExecutorService pool = sc.pool(N);
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            int me = i;
            fs.add(pool.submit(() -> {
                DistributedDoubleBarrier barrier = new DistributedDoubleBarrier(cs.get(me), path, N);
                Thread.sleep(150L * me);          // arrive one after another
                arrived.incrementAndGet();
                check(barrier.enter(20, TimeUnit.SECONDS), "m" + me + ": enter timed out");
                int a = arrived.get();
                check(a == N, "m" + me + " entered when only " + a + " of " + N + " had arrived");
                Thread.sleep(150L * (N - me));    // leave in the other order
                leaving.incrementAndGet();
                check(barrier.leave(20, TimeUnit.SECONDS), "m" + me + ": leave timed out");
                int l = leaving.get();
                check(l == N, "m" + me + " left when only " + l + " of " + N + " were leaving");
                return null;
            }));
        }
        joinAll(fs, 45000, "the barrier members");
        waitFor("no barrier member nodes left", 5000, () -> {
            try {
                return cs.get(0).getChildren().forPath(path).stream().noneMatch(n -> !n.equals("ready"));
            } catch (KeeperException.NoNodeException e) {
                return true;
            }
        });
        sc.info(N + " members entered together and left together");
    }

    // ---------------------------------------------------------------- main

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java Recipes HOST:PORT");
            System.exit(2);
        }
        connect = args[0];
        Scope setup = new Scope("setup");
        try {
            CuratorFramework c = setup.client();
            if (c.checkExists().forPath(ROOT) != null) c.delete().deletingChildrenIfNeeded().forPath(ROOT);
            c.create().forPath(ROOT);
        } catch (Exception e) {
            System.out.println("FATAL cannot prepare " + ROOT + " on " + connect + ": " + e);
            System.exit(2);
        } finally {
            setup.closeAll();
        }

        step("mutex", 100000, Recipes::mutex);
        step("leader-latch", 45000, Recipes::leaderLatch);
        step("leader-selector", 30000, Recipes::leaderSelector);
        step("cache", 45000, Recipes::cache);
        step("queue", 45000, sc -> queue(sc, false));
        step("queue-lock-safe", 45000, sc -> queue(sc, true));
        step("shared-count", 60000, Recipes::sharedCount);
        step("persistent-node", 45000, Recipes::persistentNode);
        step("modeled", 30000, Recipes::modeled);
        step("semaphore", 60000, Recipes::semaphore);
        step("double-barrier", 50000, Recipes::doubleBarrier);

        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
