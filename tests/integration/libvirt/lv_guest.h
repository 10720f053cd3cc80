/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The demo guest as a libvirt domain, for the tests and the benchmark that
 * run real QEMU (inside run-libvirt-qemu.sh's namespace and scratch
 * directory), and a libvirtd of the test's own (run-libvirtd.sh).
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
	char *guest_dir;
	char *scratch;
	char *tap;
	char *ip;
	char *agent_expect;
	int agent_port;
	int memory_mb;
	/* The demo guest's own (base) disk, never written. */
	char *backing_disk;
	/* A qcow2 overlay of the guest's disk in the scratch dir: it holds the internal snapshot. */
	char *disk;
	char *embed_uri;
	char *daemon_dir;
	char *daemon_uri;
} LvGuest;

/* From run-libvirt-qemu.sh's environment; g_error when run outside it. */
void lv_guest_init(LvGuest *g);
void lv_guest_clear(LvGuest *g);

/* A new qcow2 overlay of the guest's base disk, SCRATCH/@name.qcow2; its path. */
char *lv_guest_overlay(const LvGuest *g, const char *name);

/* Registers libvirt's default event loop and runs it on a thread, as an embedding application does. */
void lv_guest_event_loop_start(void);

/* The domain XML of the demo guest as domain @name (type qemu: TCG); @uuid may be NULL. */
char *lv_guest_domain_xml(const LvGuest *g, const char *name, const char *uuid);

/* A variant of the demo guest's domain, for lv_guest_domain_xml_spec. */
typedef struct {
	const char *name;
	/* NULL: libvirt makes one. */
	const char *uuid;
	/* The qcow2 the guest runs on; NULL: g->disk. */
	const char *disk;
	/* What goes inside <memoryBacking>; NULL: no such element (anonymous RAM). */
	const char *memory_backing;
	/* The <interface> element; NULL: the test's tap with the guest's MAC. */
	const char *interface;
	/* Arguments libvirt passes to QEMU unchanged (<qemu:commandline>), NULL-terminated. */
	const char *const *qemu_args;
} LvDomainSpec;

char *lv_guest_domain_xml_spec(const LvGuest *g, const LvDomainSpec *spec);

/*
 * Defines @name on @conn, boots it, waits for its agent and takes the
 * running internal snapshot "booted"; then destroys it. The domain is
 * returned off, with "booted" as its current snapshot.
 */
virDomainPtr lv_guest_prepare(const LvGuest *g, virConnectPtr conn, const char *name);

/* lv_guest_prepare with the domain XML @xml (its name is @name). */
virDomainPtr lv_guest_prepare_xml(const LvGuest *g, virConnectPtr conn, const char *name,
				  const char *xml);

/* Defines @name on @conn with the snapshot of @from (same disk): no second boot. */
virDomainPtr lv_guest_copy(const LvGuest *g, virConnectPtr conn, const char *name,
			   virDomainPtr from);

void lv_guest_undefine(virDomainPtr dom);

/*
 * Waits for the agent's answer; the seconds it took, or -1 after
 * TEST_HANG_GUARD_S (a hang: a busy host only makes it late).
 */
double lv_guest_agent_wait(const LvGuest *g);

/* QEMU's pid for the running domain @name of the root @run_dir/qemu (0 if none). */
pid_t lv_guest_qemu_pid(const char *run_dir, const char *name);

/* Starts run-libvirtd.sh on g->daemon_dir and waits until it answers; its pid. */
pid_t lv_daemon_start(const LvGuest *g);

/* SIGTERM, then waits for it to exit. */
void lv_daemon_stop(pid_t pid);

/* Opens @uri, retrying while a daemon starts (up to TEST_HANG_GUARD_S). */
virConnectPtr lv_open_retrying(const char *uri);
