/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the tests of the qemu machinery against the real demo guest share:
 * a config dir loaded through the core as the daemon loads it, ops run on
 * worker threads while the main thread runs the loop, and the guest's agent
 * reached on the tap device of the network namespace run-in-netns.sh made.
 *
 * Every guest restored from the demo snapshot has the same IP and MAC (they
 * live in the snapshot), so the taps are not bridged: the host address sits
 * on the tap of the guest being talked to.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <sys/types.h>

#include "daemon_setup.h"
#include "host_services.h"
#include "test_support.h"

/* The qemu plugin's default qemu_uid_base: machine N's QEMU runs as this + N. */
#define NBX_QEMU_TEST_UID_BASE 850000

typedef struct {
	char *guest_dir;
	char *dir;
	char *overlays;
	NbxDiagnostics *diagnostics;
	NbxSetup *setup;
	NbxPluginInstance *qemu;
	/* The demo guest's machineinfo.json. */
	JsonObject *info;
	/* For fake-qemu.py: what it plays after the restore. */
	const char *scenario;
} Fixture;

/* The value of environment variable @name, which run-in-netns.sh sets. */
const char *env(const char *name);

/* Writes a copy of the demo machineinfo, changed by @edit, as DIR/@name and returns its path. */
char *write_info(Fixture *f, const char *name, void (*edit)(JsonObject *info, Fixture *f));

/* The directory f->dir/@name, made with its parents (g_free). */
char *new_dir(Fixture *f, const char *name);

/* A machine group for qemu.conf; @info NULL: without machineinfo. */
char *machine_conf(const char *name, const char *ip, const char *tap, const char *info);

/* Loads a config with the given machines (libconfig group list body). */
void load(Fixture *f, const char *machines);
/* Loads @conf as machinery/qemu.conf. */
void load_text(Fixture *f, const char *conf);
void assert_clean_load(Fixture *f);
/* Drops the loaded config (the plugin instance shuts down). */
void unload(Fixture *f);

void set_up(Fixture *f, gconstpointer data);
void tear_down(Fixture *f, gconstpointer data);

guint count_files(const char *dir);
void drain_main_loop(void);

/* Runs @fn(@data) on a worker thread, as the daemon runs ops, while this thread runs the loop. */
void run_on_worker(void (*fn)(gpointer data), gpointer data);

/* The core's view of @name's hypervisor state. */
gint32 pool_state(Fixture *f, const char *name);

/*
 * Puts the host address on @tap only (or on the bridge, $NBX_QEMU_TEST_BRIDGE),
 * so the demo guest behind it is the one reached.
 */
void route_to(Fixture *f, const char *tap);
/* Waits up to 30 s for the agent's answer; fails the test without one. */
void assert_agent_answers(Fixture *f);

/* The pid of a QEMU child of this process whose command line contains @needle, or 0. */
pid_t find_qemu_with(const char *needle);
/* The pid of our QEMU child running an overlay of @machine in the overlay dir, or 0. */
pid_t find_qemu(Fixture *f, const char *machine);

/*
 * Whether @pid is alive and not a zombie waiting to be reaped (the tests
 * are their orphans' subreaper, so a killed QEMU lingers as one).
 */
gboolean process_lives(pid_t pid);

/* load(), collecting what the plugin says at INFO level (what --check prints as notes). */
GPtrArray *load_collecting_notes(Fixture *f, const char *machines);
/* load_text(), likewise. */
GPtrArray *load_text_collecting_notes(Fixture *f, const char *conf);
/* The first note containing @needle, or NULL (then all notes are printed). */
const char *find_note(GPtrArray *notes, const char *needle);

/* The command line of process @pid, its arguments joined by spaces (g_free). */
char *cmdline_of(pid_t pid);

/*
 * Starts orphan-maker (a stand-in daemon whose QEMU outlives it, see
 * orphan_maker.c) on machine "a" described by @info, with @run_dir as its
 * run directory and @state_dir (NULL: @run_dir) as its state directory.
 * @mode NULL restores; "prepare" prepares; else it is a snapshot session's
 * work_dir. Orphans come to this process. *@out: its stdout.
 */
GPid orphan_maker_start(Fixture *f, const char *run_dir, const char *info, const char *mode,
			const char *state_dir, int *out);
/* Until orphan-maker says "ready" on @out (closed then). */
void orphan_maker_wait_ready(int out);
/* SIGKILL, and reaped: a daemon's sudden death. */
void orphan_maker_kill(GPid maker);

/*
 * DIR/outside: a directory the first machine's QEMU (uid
 * NBX_QEMU_TEST_UID_BASE) may create a socket in, for a monitor of the
 * test's own; root's QEMU of a snapshot session may too.
 */
char *qemu_owned_dir(Fixture *f);

/*
 * QEMU @pid runs contained as uid and gid @id (all four of each), with no
 * supplementary group (TCG: no kvm) and under its seccomp filter.
 */
void assert_qemu_identity(pid_t pid, guint id);

/* Runs @script with sh -e; fails the test when it fails. */
void shell(const char *script);
