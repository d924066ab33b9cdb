// KafkaCheck.java — the client side of compat-tests/kafka.sh: small commands that
// create a topic, produce and consume numbered records, and read the coordination
// state Kafka 3.9 (ZooKeeper mode) keeps in ZooKeeper.
//
// Why it exists: kafka.sh starts brokers on zkd and on Apache ZooKeeper and kills
// things; it needs exact answers (how many records arrived, which broker leads,
// which session owns a broker's registration) that Kafka's own tools only print for
// people. Each command prints one line of `key=value` words and exits 0 when what it
// checks holds, 1 when it does not, 2 on a usage error.
//
//   topic    BOOTSTRAP TOPIC PARTITIONS RF        create; wait until every partition
//                                                 has a leader and a full ISR
//   produce  BOOTSTRAP TOPIC FROM COUNT [PER_SEC] records FROM..FROM+COUNT-1, acks=all,
//                                                 idempotent; all must be acknowledged
//   consume  BOOTSTRAP TOPIC TOTAL                every record 0..TOTAL-1 exactly once
//   leader   BOOTSTRAP TOPIC PARTITION            the partition's leader broker id
//   controller ZKCONNECT [ABOVE_EPOCH TIMEOUT_MS] the controller's broker id and epoch
//                                                 (waits for an epoch above ABOVE_EPOCH)
//   brokers  ZKCONNECT COUNT TIMEOUT_MS           waits for COUNT registered brokers;
//                                                 prints id:session of each
// ZKCONNECT includes Kafka's chroot (host:port,.../kafka).

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.serialization.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.Stat;

public class KafkaCheck {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) usage();
        int rc;
        switch (args[0]) {
            case "topic": rc = topic(args[1], args[2], Integer.parseInt(args[3]), Short.parseShort(args[4])); break;
            case "produce": rc = produce(args[1], args[2], Long.parseLong(args[3]), Long.parseLong(args[4]),
                                         args.length > 5 ? Long.parseLong(args[5]) : 0); break;
            case "consume": rc = consume(args[1], args[2], Long.parseLong(args[3])); break;
            case "leader": rc = leader(args[1], args[2], Integer.parseInt(args[3])); break;
            case "controller": rc = controller(args[1], args.length > 3 ? Integer.parseInt(args[2]) : -1,
                                               args.length > 3 ? Long.parseLong(args[3]) : 10000); break;
            case "brokers": rc = brokers(args[1], Integer.parseInt(args[2]), Long.parseLong(args[3])); break;
            default: usage(); return;
        }
        System.exit(rc);
    }

    static void usage() {
        System.err.println("usage: KafkaCheck topic|produce|consume|leader|controller|brokers ... (see the header)");
        System.exit(2);
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        return Admin.create(p);
    }

    static int topic(String bootstrap, String topic, int partitions, short rf) throws Exception {
        long t0 = System.nanoTime();
        try (Admin a = admin(bootstrap)) {
            a.createTopics(List.of(new NewTopic(topic, partitions, rf))).all().get(30, TimeUnit.SECONDS);
            long deadline = System.currentTimeMillis() + 30000;
            while (System.currentTimeMillis() < deadline) {
                TopicDescription d;
                try {
                    d = a.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic);
                } catch (ExecutionException e) {
                    Thread.sleep(100);
                    continue;   // metadata not yet everywhere
                }
                boolean ready = d.partitions().size() == partitions && d.partitions().stream()
                    .allMatch(p -> p.leader() != null && p.leader().id() >= 0 && p.isr().size() == rf);
                if (ready) {
                    System.out.printf("created=%s partitions=%d rf=%d ms=%d%n", topic, partitions, rf,
                                      (System.nanoTime() - t0) / 1_000_000);
                    return 0;
                }
                Thread.sleep(100);
            }
        }
        System.out.printf("created=%s ready=false ms=%d%n", topic, (System.nanoTime() - t0) / 1_000_000);
        return 1;
    }

    static String value(long i) { return "rec-" + i; }

    static int produce(String bootstrap, String topic, long from, long count, long perSec) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        AtomicLong acked = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicReference<Exception> firstError = new AtomicReference<>();
        long t0 = System.nanoTime();
        try (Producer<String, String> prod = new KafkaProducer<>(p)) {
            for (long i = from; i < from + count; i++) {
                if (perSec > 0) {
                    // pace the records so that a run spans the moment something is killed
                    long due = t0 + (i - from) * 1_000_000_000L / perSec;
                    long wait = due - System.nanoTime();
                    if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                prod.send(new ProducerRecord<>(topic, Long.toString(i), value(i)), (md, e) -> {
                    if (e == null) acked.incrementAndGet();
                    else { failed.incrementAndGet(); firstError.compareAndSet(null, e); }
                });
            }
            prod.flush();
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("produced=%d acked=%d failed=%d ms=%d%s%n", count, acked.get(), failed.get(), ms,
                          firstError.get() == null ? "" : " error=" + firstError.get());
        return acked.get() == count && failed.get() == 0 ? 0 : 1;
    }

    static int consume(String bootstrap, String topic, long total) throws Exception {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        BitSet seen = new BitSet();
        long records = 0, duplicates = 0, foreign = 0;
        long t0 = System.nanoTime();
        try (Consumer<String, String> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                parts.add(new TopicPartition(topic, pi.partition()));
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.currentTimeMillis() + 60000;
            while (seen.cardinality() < total && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    records++;
                    long i;
                    try { i = Long.parseLong(r.key()); } catch (NumberFormatException e) { foreign++; continue; }
                    if (i < 0 || i >= total || !value(i).equals(r.value())) { foreign++; continue; }
                    if (seen.get((int) i)) duplicates++;
                    seen.set((int) i);
                }
            }
        }
        long missing = total - seen.cardinality();
        System.out.printf("consumed=%d distinct=%d missing=%d duplicates=%d foreign=%d ms=%d%n", records,
                          seen.cardinality(), missing, duplicates, foreign, (System.nanoTime() - t0) / 1_000_000);
        return missing == 0 && duplicates == 0 && foreign == 0 ? 0 : 1;
    }

    static int leader(String bootstrap, String topic, int partition) throws Exception {
        try (Admin a = admin(bootstrap)) {
            TopicDescription d = a.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
            for (TopicPartitionInfo pi : d.partitions()) {
                if (pi.partition() == partition && pi.leader() != null) {
                    System.out.printf("leader=%d isr=%d%n", pi.leader().id(), pi.isr().size());
                    return 0;
                }
            }
        }
        System.out.println("leader=none");
        return 1;
    }

    static ZooKeeper zk(String connect) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper z = new ZooKeeper(connect, 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown();
        });
        if (!up.await(15, TimeUnit.SECONDS)) throw new IllegalStateException("cannot connect to " + connect);
        return z;
    }

    /** Kafka's /controller holds {"version":..,"brokerid":N,"timestamp":..}. */
    static int brokerId(byte[] json) {
        String s = new String(json, StandardCharsets.UTF_8);
        int i = s.indexOf("\"brokerid\":");
        if (i < 0) return -1;
        int j = i + 11, k = j;
        while (k < s.length() && Character.isDigit(s.charAt(k))) k++;
        return Integer.parseInt(s.substring(j, k));
    }

    static int controller(String connect, int aboveEpoch, long timeoutMs) throws Exception {
        long t0 = System.nanoTime();
        ZooKeeper z = zk(connect);
        try {
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (true) {
                try {
                    int id = brokerId(z.getData("/controller", false, null));
                    int epoch = Integer.parseInt(new String(z.getData("/controller_epoch", false, null),
                                                            StandardCharsets.UTF_8).trim());
                    if (id >= 0 && epoch > aboveEpoch) {
                        System.out.printf("controller=%d epoch=%d ms=%d%n", id, epoch, (System.nanoTime() - t0) / 1_000_000);
                        return 0;
                    }
                } catch (KeeperException.NoNodeException e) {
                    // between controllers
                }
                if (System.currentTimeMillis() > deadline) break;
                Thread.sleep(50);
            }
        } finally {
            z.close();
        }
        System.out.printf("controller=none above_epoch=%d%n", aboveEpoch);
        return 1;
    }

    static int brokers(String connect, int count, long timeoutMs) throws Exception {
        ZooKeeper z = zk(connect);
        try {
            long deadline = System.currentTimeMillis() + timeoutMs;
            List<String> ids = List.of();
            while (System.currentTimeMillis() < deadline) {
                try {
                    ids = new ArrayList<>(z.getChildren("/brokers/ids", false));
                } catch (KeeperException.NoNodeException e) {
                    ids = List.of();
                }
                if (ids.size() == count) break;
                Thread.sleep(100);
            }
            List<String> out = new ArrayList<>();
            Collections.sort(ids);
            for (String id : ids) {
                Stat s = z.exists("/brokers/ids/" + id, false);
                if (s != null) out.add(id + ":0x" + Long.toHexString(s.getEphemeralOwner()));
            }
            System.out.println("brokers=" + String.join(",", out));
            return out.size() == count ? 0 : 1;
        } finally {
            z.close();
        }
    }
}
