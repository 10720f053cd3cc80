/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark: the libvirt machinery's restore_start until the guest agent
 * answers, against `virsh snapshot-revert` on the same domain, same
 * snapshot, same libvirtd, in the same run, rounds interleaved so drift
 * hits both alike. Also shown, not gated: the bare API call
 * (virDomainRevertToSnapshot on a connection already open), the floor.
 *
 * Runs inside run-libvirt-qemu.sh (namespace, tap, scratch dir) against a
 * libvirtd it starts there: virsh is another process, so it needs a
 * daemon to talk to. Every round starts from the domain shut off, as a
 * machine is between analyses. Prints each round and the medians, and
 * fails when median(plugin) / median(virsh) > 1.05.
 * The revert alone varies from 0.5 to 1 s here (bimodal), whoever asks for
 * it, so a median needs rounds: NBX_BENCH_ROUNDS sets them (default 15).
 */
#include <libvirt/libvirt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "lv_guest.h"
#include "lv_test.h"

#define MAX_RATIO 1.05

static LvGuest guest;

static int
compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *values, int n)
{
	qsort(values, (size_t)n, sizeof *values, compare_doubles);
	return n % 2 != 0 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* Seconds from @start to the agent's answer; *@revert_s gets the revert's own share. */
static double
agent_after(gint64 start, double *revert_s)
{
	*revert_s = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	if (lv_guest_agent_wait(&guest) < 0)
		g_error("the agent did not answer within 30 s");
	return (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
}

static double
by_plugin(LvTest *t, double *revert_s)
{
	gint64 start = g_get_monotonic_time();

	lv_test_op_ok(t, "demo", LV_OP_RESTORE, NULL);
	return agent_after(start, revert_s);
}

static double
by_virsh(double *revert_s)
{
	const char *argv[] = { "virsh", "-q", "-c", guest.daemon_uri, "snapshot-revert", "nbx-demo",
			       "booted", NULL };
	g_autoptr(GError) error = NULL;
	gint64 start = g_get_monotonic_time();
	int status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
			  &status, &error) ||
	    !g_spawn_check_wait_status(status, &error))
		g_error("virsh snapshot-revert: %s", error->message);
	return agent_after(start, revert_s);
}

static double
by_api(virConnectPtr conn, double *revert_s)
{
	gint64 start = g_get_monotonic_time();
	virDomainPtr dom = virDomainLookupByName(conn, "nbx-demo");
	virDomainSnapshotPtr snapshot = virDomainSnapshotLookupByName(dom, "booted", 0);

	if (snapshot == NULL || virDomainRevertToSnapshot(snapshot, 0) < 0)
		g_error("revert: %s", virGetLastErrorMessage());
	virDomainSnapshotFree(snapshot);
	virDomainFree(dom);
	return agent_after(start, revert_s);
}

int
main(int argc, char **argv)
{
	const char *rounds_text = g_getenv("NBX_BENCH_ROUNDS");
	int rounds = rounds_text != NULL ? atoi(rounds_text) : 15;
	g_autofree double *plugin = NULL;
	g_autofree double *virsh = NULL;
	g_autofree double *api = NULL;
	g_autofree char *machines = NULL;
	g_autofree char *conf = NULL;
	virConnectPtr conn;
	virDomainPtr dom;
	double ratio, plugin_median, virsh_median, api_median;
	LvTest t;
	pid_t daemon;

	/* As nestboxd does: a dead ext/ssh transport is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	if (rounds < 1 || rounds > 100)
		g_error("NBX_BENCH_ROUNDS must be 1..100");
	plugin = g_new0(double, rounds);
	virsh = g_new0(double, rounds);
	api = g_new0(double, rounds);
	lv_guest_init(&guest);
	daemon = lv_daemon_start(&guest);
	conn = lv_open_retrying(guest.daemon_uri);
	g_assert_nonnull(conn);
	dom = lv_guest_prepare(&guest, conn, "nbx-demo");

	lv_test_init(&t, g_getenv("NBX_LIBVIRT_TEST_PLUGIN_DIR"));
	machines = g_strdup_printf("{ name = \"demo\"; label = \"nbx-demo\"; ip = \"%s\"; "
				   "platform = \"linux\"; snapshot = \"booted\"; }",
				   guest.ip);
	conf = g_strdup_printf("dsn = \"%s\";\nmachines = ( %s );\n", guest.daemon_uri, machines);
	lv_test_load(&t, conf);
	lv_test_assert_clean(&t);

	printf("seconds to the agent's answer (in brackets: the revert call's share)\n");
	printf("round  plugin          virsh           bare API\n");
	for (int i = 0; i < rounds; i++) {
		/* Alternate who goes first, so neither always follows the other. */
		double plugin_revert = 0, virsh_revert = 0, api_revert = 0;

		if (i % 2 == 0) {
			plugin[i] = by_plugin(&t, &plugin_revert);
			lv_test_op_ok(&t, "demo", LV_OP_STOP, NULL);
			virsh[i] = by_virsh(&virsh_revert);
		} else {
			virsh[i] = by_virsh(&virsh_revert);
			lv_test_op_ok(&t, "demo", LV_OP_STOP, NULL);
			plugin[i] = by_plugin(&t, &plugin_revert);
		}
		lv_test_op_ok(&t, "demo", LV_OP_STOP, NULL);
		api[i] = by_api(conn, &api_revert);
		lv_test_op_ok(&t, "demo", LV_OP_STOP, NULL);
		printf("%5d  %.3f (%.3f)  %.3f (%.3f)  %.3f (%.3f)\n", i + 1, plugin[i],
		       plugin_revert, virsh[i], virsh_revert, api[i], api_revert);
		fflush(stdout);
	}
	plugin_median = median(plugin, rounds);
	virsh_median = median(virsh, rounds);
	api_median = median(api, rounds);
	ratio = plugin_median / virsh_median;
	printf("median plugin restore_start -> agent: %.3f s\n", plugin_median);
	printf("median virsh snapshot-revert -> agent: %.3f s\n", virsh_median);
	printf("median bare virDomainRevertToSnapshot -> agent: %.3f s\n", api_median);
	printf("ratio plugin / virsh: %.3f (limit %.2f); plugin / bare API: %.3f\n", ratio,
	       MAX_RATIO, plugin_median / api_median);

	lv_test_clear(&t);
	lv_guest_undefine(dom);
	virConnectClose(conn);
	lv_daemon_stop(daemon);
	lv_guest_clear(&guest);
	return ratio <= MAX_RATIO ? 0 : 1;
}
