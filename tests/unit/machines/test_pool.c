/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Machine selection: by label or by platform, os_version, architecture and
 * a subset of tags; least recently used first; "no match" told apart from
 * "busy"; disabled machines skipped.
 */
#include "machine_pool.h"

typedef struct {
	NbxMachinePool *pool;
	NbxDiagnostics *diagnostics;
} Fixture;

static void
add(Fixture *f, const char *name, const char *platform, const char *os_version,
    const char *const *tags)
{
	g_autofree char *ip = g_strdup_printf("192.0.2.%u", f->pool->machines->len + 1);
	struct nbx_machine spec = {
		.struct_size = sizeof spec,
		.name = name,
		.label = name,
		.ip = ip,
		.platform = platform,
		.os_version = os_version,
		.architecture = "amd64",
		.tags = tags,
	};

	g_assert_true(nbx_machine_pool_add(f->pool, NULL, &spec, "test", f->diagnostics));
}

static void
set_up(Fixture *f, gconstpointer data)
{
	static const char *const office[] = { "office", "x64", NULL };
	static const char *const plain[] = { NULL };

	f->pool = nbx_machine_pool_new();
	f->diagnostics = nbx_diagnostics_new();
	add(f, "win10-b", "windows", "win10", office);
	add(f, "win10-a", "windows", "win10", office);
	add(f, "win7", "windows", "win7", plain);
	add(f, "deb", "linux", NULL, NULL);
}

static void
tear_down(Fixture *f, gconstpointer data)
{
	nbx_machine_pool_free(f->pool);
	nbx_diagnostics_free(f->diagnostics);
}

static NbxMachine *
acquire(Fixture *f, const NbxMachineRequest *request)
{
	g_autoptr(GError) error = NULL;
	NbxMachine *machine = nbx_machine_pool_acquire(f->pool, request, &error);

	g_assert_no_error(error);
	return machine;
}

static void
test_by_label(Fixture *f, gconstpointer data)
{
	NbxMachineRequest request = { .label = "win7" };

	g_assert_cmpstr(acquire(f, &request)->machine.name, ==, "win7");
}

static void
test_by_attributes(Fixture *f, gconstpointer data)
{
	static const char *const want[] = { "x64", NULL };
	static const char *const too_many[] = { "x64", "gpu", NULL };
	NbxMachineRequest request = { .platform = "windows", .os_version = "win10", .tags = want };
	NbxMachineRequest impossible = { .platform = "windows", .tags = too_many };
	g_autoptr(GError) error = NULL;

	/* Equal use so far: ties go by name. */
	g_assert_cmpstr(acquire(f, &request)->machine.name, ==, "win10-a");
	g_assert_null(nbx_machine_pool_acquire(f->pool, &impossible, &error));
	g_assert_error(error, NBX_POOL_ERROR, NBX_POOL_ERROR_NO_MATCH);
	g_assert_cmpstr(error->message, ==,
			"no configured machine matches platform=windows, tags=x64,gpu");
}

static void
test_least_recently_used(Fixture *f, gconstpointer data)
{
	NbxMachineRequest request = { .os_version = "win10" };
	NbxMachine *first = acquire(f, &request);
	NbxMachine *second = acquire(f, &request);
	g_autoptr(GError) error = NULL;

	g_assert_cmpstr(first->machine.name, ==, "win10-a");
	g_assert_cmpstr(second->machine.name, ==, "win10-b");
	g_assert_null(nbx_machine_pool_acquire(f->pool, &request, &error));
	g_assert_error(error, NBX_POOL_ERROR, NBX_POOL_ERROR_BUSY);
	nbx_machine_pool_release(f->pool, first);
	nbx_machine_pool_release(f->pool, second);
	/* win10-a was used before win10-b: it is the least recently used now. */
	g_assert_true(acquire(f, &request) == first);
	nbx_machine_pool_release(f->pool, first);
	g_assert_true(acquire(f, &request) == second);
}

static void
test_disabled(Fixture *f, gconstpointer data)
{
	NbxMachineRequest request = { .platform = "linux" };
	NbxMachine *deb = nbx_machine_pool_lookup(f->pool, "deb");
	g_autoptr(GError) error = NULL;

	g_assert_true(nbx_machine_transition(deb, NBX_MACHINE_EVENT_DISABLE, 0,
					     "failed 3 times: restore timed out", NULL));
	g_assert_null(nbx_machine_pool_acquire(f->pool, &request, &error));
	g_assert_error(error, NBX_POOL_ERROR, NBX_POOL_ERROR_BUSY);
	g_assert_cmpstr(error->message, ==,
			"no machine matching platform=linux is free: 0 in use, 1 disabled (deb: "
			"failed 3 times: restore timed out)");
	g_assert_true(nbx_machine_transition(deb, NBX_MACHINE_EVENT_ENABLE, 0, NULL, NULL));
	g_assert_true(acquire(f, &request) == deb);
}

static void
test_bad_spec(Fixture *f, gconstpointer data)
{
	struct nbx_machine spec = { .struct_size = sizeof spec, .name = "x", .label = "x",
				    .ip = "not-an-ip" };

	g_assert_false(nbx_machine_pool_add(f->pool, NULL, &spec, "here", f->diagnostics));
	g_assert_cmpstr(nbx_diagnostics_get(f->diagnostics, 0), ==,
			"here: platform: machine has no platform");
	spec.platform = "linux";
	g_assert_false(nbx_machine_pool_add(f->pool, NULL, &spec, "here", f->diagnostics));
	g_assert_cmpstr(nbx_diagnostics_get(f->diagnostics, 1), ==,
			"here: ip: not an IP address: \"not-an-ip\"");
	g_assert_cmpuint(f->pool->machines->len, ==, 4);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, set_up, fn, tear_down)
	ADD("/pool/by-label", test_by_label);
	ADD("/pool/by-attributes", test_by_attributes);
	ADD("/pool/least-recently-used", test_least_recently_used);
	ADD("/pool/disabled", test_disabled);
	ADD("/pool/bad-spec", test_bad_spec);
	return g_test_run();
}
