// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-pktbench --generate-events RATE (bench/pkt_run.h): new flows through the tc_pod an
 * agent pinned under --bpffs, RATE a second, each telling one new-flow event, for
 * bench/observe_rate.sh to count what `sluice observe` receives. The agent is the bench's own
 * (its own bpffs directory): this writes its ep4 (the flows' sources and the backend, as the CNI
 * plugin would) and runs its program through BPF_PROG_TEST_RUN in batches every 10 ms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench/pkt_run.h"
#include "lib/bpffs.h"
#include "lib/log.h"
#include "maps/endpoints.h"
#include "maps/types.h"
#include "skel/pkt_wrap.skel.h"

#define EVENTS_TICK_NS 10000000ull /* a batch every 10 ms */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The sources pkt_wrap gives N new flows from CLIENT's /16, and BACKEND, as pods on ifindex 1. */
static int events_seed_pods(int ep4_fd, __u32 client, __u32 backend, unsigned long long n)
{
	struct ep4_info ep = {.ifindex = 1};
	struct ep4_key key = {.address = backend};

	if (bpf_map_update_elem(ep4_fd, &key, &ep, BPF_ANY))
		return -errno;
	for (__u32 host = 1; host <= 2 + n / 60000; host++) {
		key.address = (client & htonl(0xffff0000)) | htonl(host);
		if (bpf_map_update_elem(ep4_fd, &key, &ep, BPF_ANY))
			return -errno;
	}
	return 0;
}

int pkt_events_generate(const struct bench_opts *o, const char *bpffs, __u32 client, __u32 vip,
			__u32 backend)
{
	unsigned long long total = (unsigned long long)o->event_rate * o->event_seconds, sent = 0;
	unsigned int batch = o->event_rate / (1000000000ull / EVENTS_TICK_NS);
	struct bench_case c = {.name = "new flow (events)",
			       .vary_flow = true,
			       .expect_retval = -1,
			       BENCH_TCP(client, vip, 40000, 80, TCP_SYN)};
	struct bench_opts run = *o;
	struct pkt_wrap *wrap = NULL;
	char path[4096];
	int prog_fd = -1, ep4_fd = -1, err;
	struct timespec next;
	double start, elapsed;

	if (batch < 1)
		batch = 1;
	err = bpffs_path(path, sizeof(path), bpffs, SLUICE_PROG_PIN);
	if (!err) {
		prog_fd = bpf_obj_get(path);
		err = prog_fd < 0 ? -errno : 0;
	}
	if (err) {
		log_error("%s/%s: %s (is the bench's agent running?)", bpffs, SLUICE_PROG_PIN,
			  strerror(-err));
		goto cleanup;
	}
	ep4_fd = bpffs_open_map(bpffs, EP4_MAP);
	err = ep4_fd < 0 ? ep4_fd : events_seed_pods(ep4_fd, client, backend, total);
	if (err) {
		log_error("%s/%s: %s", bpffs, EP4_MAP, strerror(-err));
		goto cleanup;
	}
	wrap = pkt_wrap__open_and_load();
	if (!wrap) {
		err = -errno;
		log_error("load pkt_wrap: %s", strerror(-err));
		goto cleanup;
	}
	err = set_target(wrap, prog_fd);
	if (err)
		goto cleanup;
	run.runs = 1;
	clock_gettime(CLOCK_MONOTONIC, &next);
	start = now_s();
	while (sent < total) {
		run.repeat = total - sent < batch ? (unsigned int)(total - sent) : batch;
		err = bench_run(wrap, &run, &c);
		if (err) {
			log_error("run the pinned %s: %s", SLUICE_PROG_PIN, strerror(-err));
			goto cleanup;
		}
		sent += run.repeat;
		next.tv_nsec += EVENTS_TICK_NS;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	elapsed = now_s() - start;
	printf("{\"sent\": %llu, \"seconds\": %.3f, \"rate\": %.0f, \"batch\": %u}\n", sent,
	       elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0, batch);
cleanup:
	pkt_wrap__destroy(wrap);
	if (ep4_fd >= 0)
		close(ep4_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	return err;
}
