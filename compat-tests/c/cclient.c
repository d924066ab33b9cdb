/*
 * cclient.c — a deterministic scenario run with the ZooKeeper C client
 * (libzookeeper_mt 3.8, Debian), printed as a NORMALIZED transcript.
 *
 * Why it exists: the C client is the base of many bindings (Python zkpython,
 * Perl, PHP, node "zookeeper", ClickHouse-style native clients).  It encodes
 * requests with its own jute code, independent of the Java client, so it catches
 * wire-format slips that the Java client would hide.  Run against Apache
 * ZooKeeper and against zkd, the transcripts must be identical: only paths,
 * data, versions, child lists, ACLs, error codes and watch events are printed,
 * never zxids, times or session ids.
 *
 * Build: gcc -Wall -O2 -DTHREADED -I/usr/include/zookeeper cclient.c -lzookeeper_mt -lpthread
 * Run:   ./cclient 127.0.0.1:PORT > transcript.txt
 * Exit status 0 when the scenario ran; 2 if it could not connect.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper.h>

#define BASE "/ct"
#define EVENT_WAIT_MS 5000
#define QUIET_MS 300

static zhandle_t *zh;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected = 0, cleanup_connected = 0;
static char evq[64][256];      /* watch events, "TYPE path [tag]" */
static int evn = 0;
static int auth_done = 0, auth_rc = 0;

/* ------------------------------------------------------------------ names */

static const char *err(int rc)
{
    switch (rc) {
    case ZOK: return "OK";
    case ZNONODE: return "NONODE";
    case ZNODEEXISTS: return "NODEEXISTS";
    case ZBADVERSION: return "BADVERSION";
    case ZNOTEMPTY: return "NOTEMPTY";
    case ZNOAUTH: return "NOAUTH";
    case ZINVALIDACL: return "INVALIDACL";
    case ZNOCHILDRENFOREPHEMERALS: return "NOCHILDRENFOREPHEMERALS";
    case ZRUNTIMEINCONSISTENCY: return "RUNTIMEINCONSISTENCY";
    case ZBADARGUMENTS: return "BADARGUMENTS";
    case ZUNIMPLEMENTED: return "UNIMPLEMENTED";
    case ZCONNECTIONLOSS: return "CONNECTIONLOSS";
    case ZOPERATIONTIMEOUT: return "OPERATIONTIMEOUT";
    case ZSESSIONEXPIRED: return "SESSIONEXPIRED";
    case ZNOWATCHER: return "NOWATCHER";
    case ZAUTHFAILED: return "AUTHFAILED";
    case ZMARSHALLINGERROR: return "MARSHALLINGERROR";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "ERROR(%d)", rc);
        return buf;
    }
    }
}

static const char *evname(int type)
{
    if (type == ZOO_CREATED_EVENT) return "CREATED";
    if (type == ZOO_DELETED_EVENT) return "DELETED";
    if (type == ZOO_CHANGED_EVENT) return "CHANGED";
    if (type == ZOO_CHILD_EVENT) return "CHILD";
    if (type == ZOO_NOTWATCHING_EVENT) return "NOTWATCHING";
    if (type == ZOO_SESSION_EVENT) return "SESSION";
    return "UNKNOWN";
}

static void perms(int p, char *out)
{
    int n = 0;
    if (p & ZOO_PERM_CREATE) out[n++] = 'c';
    if (p & ZOO_PERM_DELETE) out[n++] = 'd';
    if (p & ZOO_PERM_READ) out[n++] = 'r';
    if (p & ZOO_PERM_WRITE) out[n++] = 'w';
    if (p & ZOO_PERM_ADMIN) out[n++] = 'a';
    out[n] = 0;
}

static void print_stat(const struct Stat *s)
{
    printf("v=%d cv=%d av=%d len=%d nc=%d eph=%s", s->version, s->cversion, s->aversion,
           s->dataLength, s->numChildren, s->ephemeralOwner == 0 ? "none" : "session");
}

/* ---------------------------------------------------------------- watches */

static void push_event(int type, const char *path, const char *tag)
{
    pthread_mutex_lock(&mu);
    if (evn < 64)
        snprintf(evq[evn++], sizeof evq[0], "%s %s [%s]", evname(type), path ? path : "", tag);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* ctx points at the handle's "connected" flag */
static void global_watcher(zhandle_t *z, int type, int state, const char *path, void *ctx)
{
    (void)z;
    if (type == ZOO_SESSION_EVENT) {
        pthread_mutex_lock(&mu);
        *(int *)ctx = (state == ZOO_CONNECTED_STATE);
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        return;
    }
    push_event(type, path, "default");
}

static void node_watcher(zhandle_t *z, int type, int state, const char *path, void *ctx)
{
    (void)z; (void)state;
    push_event(type, path, (const char *)ctx);
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Wait for n events (or EVENT_WAIT_MS), plus QUIET_MS for strays; print sorted. */
static void expect_events(int n)
{
    struct timespec ts;
    pthread_mutex_lock(&mu);
    deadline_after(&ts, EVENT_WAIT_MS);
    while (evn < n && pthread_cond_timedwait(&cv, &mu, &ts) != ETIMEDOUT) {}
    deadline_after(&ts, QUIET_MS);
    while (pthread_cond_timedwait(&cv, &mu, &ts) != ETIMEDOUT) {}
    qsort(evq, evn, sizeof evq[0], cmp_str);
    for (int i = 0; i < evn; i++) printf("  event %s\n", evq[i]);
    if (evn == 0) printf("  (no event)\n");
    else if (evn != n) printf("  (%d events, expected %d)\n", evn, n);
    evn = 0;
    pthread_mutex_unlock(&mu);
    fflush(stdout);
}

/* ------------------------------------------------------------------ steps */

static char pathbuf[512];

static void create(const char *path, const char *data, int mode, const struct ACL_vector *acl)
{
    int rc = zoo_create(zh, path, data, data ? (int)strlen(data) : -1,
                        acl ? acl : &ZOO_OPEN_ACL_UNSAFE, mode, pathbuf, sizeof pathbuf);
    printf("create %s mode=%d -> %s\n", path, mode, rc == ZOK ? pathbuf : err(rc));
}

static void get(const char *path)
{
    char buf[1024];
    int len = sizeof buf;
    struct Stat st;
    int rc = zoo_get(zh, path, 0, buf, &len, &st);
    printf("get %s -> ", path);
    if (rc != ZOK) { printf("%s\n", err(rc)); return; }
    if (len < 0) printf("data=null ");
    else printf("data=%.*s ", len, buf);
    print_stat(&st);
    printf("\n");
}

static void set(const char *path, const char *data, int version)
{
    struct Stat st;
    int rc = zoo_set2(zh, path, data, (int)strlen(data), version, &st);
    printf("set %s v=%d data=%s -> ", path, version, data);
    if (rc == ZOK) print_stat(&st); else printf("%s", err(rc));
    printf("\n");
}

static void del(const char *path, int version)
{
    printf("delete %s v=%d -> %s\n", path, version, err(zoo_delete(zh, path, version)));
}

static void exists(const char *path)
{
    struct Stat st;
    int rc = zoo_exists(zh, path, 0, &st);
    printf("exists %s -> ", path);
    if (rc == ZOK) print_stat(&st); else printf("%s", err(rc));
    printf("\n");
}

static void children(const char *path)
{
    struct String_vector sv;
    int rc = zoo_get_children(zh, path, 0, &sv);
    printf("getChildren %s -> ", path);
    if (rc != ZOK) { printf("%s\n", err(rc)); return; }
    for (int i = 0; i < sv.count; i++)
        for (int j = i + 1; j < sv.count; j++)
            if (strcmp(sv.data[i], sv.data[j]) > 0) { char *t = sv.data[i]; sv.data[i] = sv.data[j]; sv.data[j] = t; }
    printf("[");
    for (int i = 0; i < sv.count; i++) printf("%s%s", i ? ", " : "", sv.data[i]);
    printf("]\n");
    deallocate_String_vector(&sv);
}

static void get_acl(const char *path)
{
    struct ACL_vector acl;
    struct Stat st;
    int rc = zoo_get_acl(zh, path, &acl, &st);
    printf("getACL %s -> ", path);
    if (rc != ZOK) { printf("%s\n", err(rc)); return; }
    printf("[");
    for (int i = 0; i < acl.count; i++) {
        char p[8];
        perms(acl.data[i].perms, p);
        printf("%s%s:%s:%s", i ? ", " : "", acl.data[i].id.scheme, acl.data[i].id.id, p);
    }
    printf("] av=%d\n", st.aversion);
    deallocate_ACL_vector(&acl);
}

static void auth_completion(int rc, const void *data)
{
    (void)data;
    pthread_mutex_lock(&mu);
    auth_done = 1;
    auth_rc = rc;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void add_auth(const char *scheme, const char *cred)
{
    struct timespec ts;
    auth_done = 0;
    int rc = zoo_add_auth(zh, scheme, cred, (int)strlen(cred), auth_completion, NULL);
    if (rc == ZOK) {
        pthread_mutex_lock(&mu);
        deadline_after(&ts, EVENT_WAIT_MS);
        while (!auth_done && pthread_cond_timedwait(&cv, &mu, &ts) != ETIMEDOUT) {}
        rc = auth_done ? auth_rc : ZOPERATIONTIMEOUT;
        pthread_mutex_unlock(&mu);
    }
    printf("addAuth %s %s -> %s\n", scheme, cred, err(rc));
}

static zhandle_t *open_session(const char *hp, int *flag)
{
    struct timespec ts;
    zhandle_t *h = zookeeper_init(hp, global_watcher, 10000, NULL, flag, 0);
    if (!h) return NULL;
    pthread_mutex_lock(&mu);
    deadline_after(&ts, 15000);
    while (!*flag && pthread_cond_timedwait(&cv, &mu, &ts) != ETIMEDOUT) {}
    int ok = *flag;
    pthread_mutex_unlock(&mu);
    if (!ok) { zookeeper_close(h); return NULL; }
    return h;
}

static void delete_tree(zhandle_t *h, const char *path)
{
    struct String_vector sv;
    if (zoo_get_children(h, path, 0, &sv) != ZOK) return;
    for (int i = 0; i < sv.count; i++) {
        char child[512];
        snprintf(child, sizeof child, "%s/%s", path, sv.data[i]);
        delete_tree(h, child);
    }
    deallocate_String_vector(&sv);
    zoo_delete(h, path, -1);
}

/* Remove BASE with a separate super:test session (ACLs may forbid anyone else). */
static int super_cleanup(const char *hp)
{
    zhandle_t *main_zh = zh;
    zh = open_session(hp, &cleanup_connected);
    if (!zh) { zh = main_zh; return -1; }
    struct timespec ts;
    auth_done = 0;
    if (zoo_add_auth(zh, "digest", "super:test", 10, auth_completion, NULL) == ZOK) {
        pthread_mutex_lock(&mu);
        deadline_after(&ts, EVENT_WAIT_MS);
        while (!auth_done && pthread_cond_timedwait(&cv, &mu, &ts) != ETIMEDOUT) {}
        pthread_mutex_unlock(&mu);
    }
    delete_tree(zh, BASE);
    int gone = zoo_exists(zh, BASE, 0, NULL) == ZNONODE;
    zookeeper_close(zh);
    zh = main_zh;
    return gone ? 0 : -1;
}

/* --------------------------------------------------------------- scenario */

int main(int argc, char **argv)
{
    const char *hp = argc > 1 ? argv[1] : "127.0.0.1:22181";
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);

    printf("# session\n");
    if (super_cleanup(hp) != 0) {       /* leftovers of an interrupted earlier run */
        printf("connect (cleanup session) -> FAILED\n");
        return 2;
    }
    zh = open_session(hp, &connected);
    printf("connect -> %s timeout=%d\n", zh ? "CONNECTED" : "TIMEOUT", zh ? zoo_recv_timeout(zh) : 0);
    if (!zh) return 2;
    const clientid_t *cid = zoo_client_id(zh);
    printf("session id non-zero, passwd set -> %s\n",
           cid->client_id != 0 && memcmp(cid->passwd, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) != 0
           ? "true" : "false");

    printf("# create / get / set\n");
    create(BASE, "root", 0, NULL);
    create(BASE "/a", "hello", 0, NULL);
    create(BASE "/a", "again", 0, NULL);
    create(BASE "/none/child", "x", 0, NULL);
    get(BASE "/a");
    set(BASE "/a", "world", 0);
    set(BASE "/a", "stale", 0);
    set(BASE "/a", "any", -1);
    get(BASE "/a");
    get(BASE "/none");
    exists(BASE "/a");
    exists(BASE "/none");
    create(BASE "/null", NULL, 0, NULL);
    get(BASE "/null");
    {
        struct Stat st;
        int rc = zoo_create2(zh, BASE "/c2", "two", 3, &ZOO_OPEN_ACL_UNSAFE, 0, pathbuf, sizeof pathbuf, &st);
        printf("create2 %s/c2 -> %s ", BASE, rc == ZOK ? pathbuf : err(rc));
        if (rc == ZOK) print_stat(&st);
        printf("\n");
    }

    printf("# modes\n");
    create(BASE "/s-", NULL, ZOO_SEQUENCE, NULL);
    create(BASE "/s-", NULL, ZOO_SEQUENCE, NULL);
    create(BASE "/e", "eph", ZOO_EPHEMERAL, NULL);
    create(BASE "/e/x", NULL, 0, NULL);
    create(BASE "/es-", NULL, ZOO_EPHEMERAL | ZOO_SEQUENCE, NULL);
    create(BASE "/k", NULL, ZOO_CONTAINER, NULL);
    {
        struct Stat st;
        int rc = zoo_create2_ttl(zh, BASE "/ttl", "t", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_WITH_TTL,
                                 60000, pathbuf, sizeof pathbuf, &st);
        printf("create %s/ttl PERSISTENT_WITH_TTL ttl=60000 -> %s\n", BASE, rc == ZOK ? pathbuf : err(rc));
    }
    exists(BASE "/e");
    children(BASE);

    printf("# watches\n");
    {
        struct Stat st;
        int rc = zoo_wexists(zh, BASE "/w", node_watcher, "exists", &st);
        printf("wexists %s/w -> %s\n", BASE, err(rc));
        create(BASE "/w", "w0", 0, NULL);
        expect_events(1);

        char buf[64];
        int len = sizeof buf;
        rc = zoo_wget(zh, BASE "/w", node_watcher, "data", buf, &len, &st);
        printf("wget %s/w -> %s data=%.*s\n", BASE, err(rc), len > 0 ? len : 0, buf);
        set(BASE "/w", "w1", -1);
        expect_events(1);
        set(BASE "/w", "w2", -1);
        expect_events(0);

        struct String_vector sv;
        rc = zoo_wget_children(zh, BASE "/w", node_watcher, "child", &sv);
        printf("wget_children %s/w -> %s n=%d\n", BASE, err(rc), rc == ZOK ? sv.count : -1);
        if (rc == ZOK) deallocate_String_vector(&sv);
        create(BASE "/w/k", NULL, 0, NULL);
        expect_events(1);

        len = sizeof buf;
        rc = zoo_get(zh, BASE "/w/k", 1, buf, &len, &st);      /* watch via the global watcher */
        printf("get %s/w/k watch=1 -> %s\n", BASE, err(rc));
        del(BASE "/w/k", 0);
        expect_events(1);

        rc = zoo_wexists(zh, BASE "/w", node_watcher, "exists", &st);
        printf("wexists %s/w -> %s\n", BASE, err(rc));
        rc = zoo_remove_all_watches(zh, BASE "/w", ZWATCHTYPE_DATA, 0);
        printf("remove_all_watches %s/w DATA -> %s\n", BASE, err(rc));
        expect_events(0);   /* the C client does not call a removed watcher */
        rc = zoo_remove_all_watches(zh, BASE "/w", ZWATCHTYPE_DATA, 0);
        printf("remove_all_watches %s/w DATA (none left) -> %s\n", BASE, err(rc));
        set(BASE "/w", "w3", -1);
        expect_events(0);
    }

    printf("# ACLs\n");
    get_acl(BASE "/a");
    {
        struct Stat st;
        int rc = zoo_set_acl(zh, BASE "/a", 0, &ZOO_READ_ACL_UNSAFE);
        printf("setACL %s/a world:anyone:r v=0 -> %s\n", BASE, err(rc));
        rc = zoo_set_acl(zh, BASE "/a", 0, &ZOO_READ_ACL_UNSAFE);
        printf("setACL %s/a v=0 (stale, no ADMIN) -> %s\n", BASE, err(rc));
        (void)st;
    }
    get_acl(BASE "/a");
    set(BASE "/a", "ro", -1);
    get(BASE "/a");
    add_auth("digest", "u1:pw1");
    create(BASE "/auth", "secret", 0, &ZOO_CREATOR_ALL_ACL);
    get_acl(BASE "/auth");
    get(BASE "/auth");

    printf("# multi\n");
    {
        zoo_op_t ops[3];
        zoo_op_result_t res[3];
        char p1[64], p2[64];
        zoo_create_op_init(&ops[0], BASE "/m", "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, p1, sizeof p1);
        zoo_create_op_init(&ops[1], BASE "/m/1", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, p2, sizeof p2);
        zoo_set_op_init(&ops[2], BASE "/m", "m2", 2, 0, NULL);
        int rc = zoo_multi(zh, 3, ops, res);
        printf("multi [create m, create m/1, set m v=0] -> %s [%s, %s, %s] paths %s %s\n", err(rc),
               err(res[0].err), err(res[1].err), err(res[2].err), p1, p2);

        zoo_create_op_init(&ops[0], BASE "/m2", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, p1, sizeof p1);
        zoo_check_op_init(&ops[1], BASE "/m", 5);
        zoo_delete_op_init(&ops[2], BASE "/m/1", -1);
        rc = zoo_multi(zh, 3, ops, res);
        printf("multi [create m2, check m v=5, delete m/1] -> %s [%s, %s, %s]\n", err(rc),
               err(res[0].err), err(res[1].err), err(res[2].err));
        exists(BASE "/m2");
        get(BASE "/m");
    }

    printf("# delete\n");
    del(BASE "/c2", 5);
    del(BASE "/c2", 0);
    del(BASE "/c2", 0);
    del(BASE "/m", -1);
    children(BASE);

    int rc = zookeeper_close(zh);
    printf("close -> %s\n", err(rc));
    printf("cleanup %s (as super) -> %s\n", BASE, super_cleanup(hp) == 0 ? "ok" : "FAILED");
    printf("# end\n");
    return 0;
}
