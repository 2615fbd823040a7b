/*
 * kafka-mock: runs librdkafka's in-process mock Kafka cluster for tests.
 *
 * Build:  cc -O2 -Wall -o kafka-mock scripts/kafka-mock.c $(pkg-config --cflags --libs rdkafka)
 *         (or: scripts/kafka-mock.sh build)
 * Usage:  kafka-mock [-b BROKERS] [TOPIC:PARTITIONS ...]
 *         kafka-mock [BROKERS] [TOPIC:PARTITIONS ...]     (a bare leading number = broker count)
 *
 * Prints one line "BOOTSTRAP host:port,host:port,..." (the brokers listen on random
 * 127.0.0.1 ports), then runs until SIGTERM/SIGINT, then destroys the cluster and exits 0.
 *
 * Optional commands on stdin, one per line; each is answered with "OK" or "ERR <reason>":
 *   topic <name> <partitions>            create a topic (replication factor 1)
 *   down <brokerId>                      disconnect a broker, refuse new connections (-1 = all)
 *   up <brokerId>                        accept connections again (-1 = all)
 *   leader <topic> <partition> <brokerId> move a partition's leader (-1 = leader-less)
 *   error <apiKey> <errorCode> [count]   answer the next <count> (default 1) requests of
 *                                        <apiKey> (e.g. 14 = SyncGroup) with <errorCode>
 *                                        (e.g. 42 = INVALID_REQUEST), on any broker
 *   rtt <brokerId> <ms>                  delay every response of a broker by <ms> (-1 = all;
 *                                        0 = none again): a broker that stops answering
 *   coordinator <group> <brokerId>       make a broker the coordinator of a consumer group
 *   delay <brokerId> <apiKey> <ms> [skip] answer a broker's next request of <apiKey> (e.g. 18 =
 *                                        ApiVersions) <ms> late, after <skip> (default 0) more
 *                                        of them answered at once
 * EOF on stdin does not stop the program; only a signal does.
 *
 * Notes: broker ids are 1..N but the mock reports controller id 0, so admin CreateTopics
 * from clients does not work (create topics here). Each mock partition keeps only ~5 MiB.
 * librdkafka log output goes to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

/* Parses a base-10 integer in [min, max]; returns 0 on success. */
static int parse_int(const char *s, long min, long max, long *out) {
    char *end;
    long v;
    if (!s || !*s) return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void reply_err(rd_kafka_resp_err_t err) {
    if (err) reply("ERR %s", rd_kafka_err2str(err));
    else reply("OK");
}

static rd_kafka_resp_err_t create_topic(rd_kafka_mock_cluster_t *mc, const char *name, int partitions) {
    return rd_kafka_mock_topic_create(mc, name, partitions, 1);
}

/* Splits "name:partitions" in place; returns 0 on success. */
static int parse_topic_spec(char *spec, char **name, int *partitions) {
    char *colon = strrchr(spec, ':');
    long p = 1;
    if (colon) {
        *colon = '\0';
        if (parse_int(colon + 1, 1, 100000, &p)) return -1;
    }
    if (!*spec) return -1;
    *name = spec;
    *partitions = (int)p;
    return 0;
}

static void handle_command(rd_kafka_mock_cluster_t *mc, char *line) {
    char *argv[8];
    int argc = 0;
    char *save = NULL, *tok;
    long a, b;

    for (tok = strtok_r(line, " \t\r", &save); tok && argc < 8; tok = strtok_r(NULL, " \t\r", &save))
        argv[argc++] = tok;
    if (argc == 0) return; /* ignore blank lines */

    if (!strcmp(argv[0], "topic")) {
        if (argc != 3 || parse_int(argv[2], 1, 100000, &a)) {
            reply("ERR usage: topic <name> <partitions>");
            return;
        }
        reply_err(create_topic(mc, argv[1], (int)a));
    } else if (!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) {
        if (argc != 2 || parse_int(argv[1], -1, INT_MAX, &a)) {
            reply("ERR usage: %s <brokerId>", argv[0]);
            return;
        }
        if (argv[0][0] == 'd') reply_err(rd_kafka_mock_broker_set_down(mc, (int32_t)a));
        else reply_err(rd_kafka_mock_broker_set_up(mc, (int32_t)a));
    } else if (!strcmp(argv[0], "leader")) {
        if (argc != 4 || parse_int(argv[2], 0, INT_MAX, &a) || parse_int(argv[3], -1, INT_MAX, &b)) {
            reply("ERR usage: leader <topic> <partition> <brokerId>");
            return;
        }
        reply_err(rd_kafka_mock_partition_set_leader(mc, argv[1], (int32_t)a, (int32_t)b));
    } else if (!strcmp(argv[0], "error")) {
        long count = 1, k;
        rd_kafka_resp_err_t errs[64];
        if (argc < 3 || argc > 4 || parse_int(argv[1], 0, 32767, &a) || parse_int(argv[2], -1, 32767, &b) ||
            (argc == 4 && parse_int(argv[3], 1, 64, &count))) {
            reply("ERR usage: error <apiKey> <errorCode> [count 1..64]");
            return;
        }
        for (k = 0; k < count; k++) errs[k] = (rd_kafka_resp_err_t)b;
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)count, errs);
        reply("OK");
    } else if (!strcmp(argv[0], "rtt")) {
        if (argc != 3 || parse_int(argv[1], -1, INT_MAX, &a) || parse_int(argv[2], 0, INT_MAX, &b)) {
            reply("ERR usage: rtt <brokerId> <ms>");
            return;
        }
        reply_err(rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b));
    } else if (!strcmp(argv[0], "delay")) {
        long ms, skip = 0, k;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (argc < 4 || argc > 5 || parse_int(argv[1], 0, INT_MAX, &a) || parse_int(argv[2], 0, 32767, &b) ||
            parse_int(argv[3], 0, INT_MAX, &ms) || (argc == 5 && parse_int(argv[4], 0, 64, &skip))) {
            reply("ERR usage: delay <brokerId> <apiKey> <ms> [skip 0..64]");
            return;
        }
        for (k = 0; k <= skip && !err; k++)
            err = rd_kafka_mock_broker_push_request_error_rtts(mc, (int32_t)a, (int16_t)b, 1, RD_KAFKA_RESP_ERR_NO_ERROR,
                                                               (int)(k == skip ? ms : 0));
        reply_err(err);
    } else if (!strcmp(argv[0], "coordinator")) {
        if (argc != 3 || parse_int(argv[2], 0, INT_MAX, &a)) {
            reply("ERR usage: coordinator <group> <brokerId>");
            return;
        }
        reply_err(rd_kafka_mock_coordinator_set(mc, "group", argv[1], (int32_t)a));
    } else {
        reply("ERR unknown command '%s' (topic|down|up|leader|error|rtt|coordinator|delay)", argv[0]);
    }
}

static void usage(const char *prog) {
    fprintf(stderr, "usage: %s [-b BROKERS | BROKERS] [TOPIC:PARTITIONS ...]\n", prog);
}

int main(int argc, char **argv) {
    char errstr[512];
    long brokers = 3;
    int i = 1;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    sigset_t block, orig;
    struct sigaction sa;
    char buf[4096];
    size_t used = 0;
    int stdin_open = 1;
    int discarding = 0; /* inside an overlong line: skip up to the next newline */

    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(argv[0]);
        return 0;
    }
    if (argc > 2 && !strcmp(argv[1], "-b")) {
        if (parse_int(argv[2], 1, 64, &brokers)) {
            fprintf(stderr, "kafka-mock: bad broker count '%s'\n", argv[2]);
            return 2;
        }
        i = 3;
    } else if (argc > 1 && !parse_int(argv[1], 1, 64, &brokers)) {
        i = 2;
    }

    /* Block the stop signals before librdkafka starts its threads (they inherit the
     * mask), so they are only delivered to the main thread, inside ppoll(). */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &orig);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a parent that closed our stdout must not kill us */

    conf = rd_kafka_conf_new();
    /* The handle is only needed for bookkeeping; keep it from logging about missing brokers. */
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        fprintf(stderr, "kafka-mock: %s\n", errstr);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka-mock: rd_kafka_new failed: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, (int)brokers);
    if (!mc) {
        fprintf(stderr, "kafka-mock: rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(rk);
        return 1;
    }

    for (; i < argc; i++) {
        char *name;
        int partitions;
        rd_kafka_resp_err_t err;
        char *spec = strdup(argv[i]);
        if (!spec || parse_topic_spec(spec, &name, &partitions)) {
            fprintf(stderr, "kafka-mock: bad topic spec '%s' (want name:partitions)\n", argv[i]);
            free(spec);
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 2;
        }
        err = create_topic(mc, name, partitions);
        if (err) {
            fprintf(stderr, "kafka-mock: creating topic '%s': %s\n", name, rd_kafka_err2str(err));
            free(spec);
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
        free(spec);
    }

    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    while (!stop_signal) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        /* Signals are unblocked only while waiting here (no race with the flag check). */
        int n = ppoll(&pfd, stdin_open ? 1 : 0, NULL, &orig);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("kafka-mock: ppoll");
            break;
        }
        if (!stdin_open || !(pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) continue;
        if (pfd.revents & POLLNVAL) {
            stdin_open = 0;
            continue;
        }
        {
            ssize_t r = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);
            char *start, *nl;
            if (r < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                stdin_open = 0;
                continue;
            }
            if (r == 0) { /* EOF: keep running until a signal arrives */
                if (used && !discarding) {
                    buf[used] = '\0';
                    handle_command(mc, buf);
                    used = 0;
                }
                stdin_open = 0;
                continue;
            }
            used += (size_t)r;
            buf[used] = '\0';
            start = buf;
            while ((nl = memchr(start, '\n', used - (size_t)(start - buf)))) {
                *nl = '\0';
                if (discarding) discarding = 0;
                else handle_command(mc, start);
                start = nl + 1;
            }
            used -= (size_t)(start - buf);
            memmove(buf, start, used);
            if (used == sizeof(buf) - 1) { /* overlong line: drop it */
                if (!discarding) reply("ERR line too long");
                discarding = 1;
                used = 0;
            }
        }
    }

    fprintf(stderr, "kafka-mock: got signal %d, shutting down\n", (int)stop_signal);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
