/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One op of the qemu machinery on machine "a", run on a worker as the
 * daemon runs them while this thread runs the main loop: what the tests of
 * snapshots and of templates call the plugin through.
 */
#pragma once

#include <nestbox/plugin.h>

#include "qemu_test_fixture.h"

typedef enum {
	RESTORE,
	STOP,
	BEGIN,
	COPY_IN,
	COMMIT,
	ROLLBACK,
	FILES,
	FINGERPRINT,
	IMPORT,
	PREPARE,
	DISCARD,
	REMOVE,
	STATE,
} Op;

typedef struct {
	Fixture *f;
	Op op;
	uint32_t flags;
	/*
	 * restore_start's and prepare's generation_dir, or the generation of
	 * files, fingerprint, import and remove.
	 */
	const char *generation;
	struct nbx_snapshot_session session;
	const char *const *paths;
	/* FILES: "ROLE PATH" per file; FINGERPRINT: key -> value. */
	GPtrArray *files;
	GHashTable *fingerprint;
	/* STATE */
	int32_t state;
	bool ok;
	struct nbx_error err;
} Call;

Call *call_new(Fixture *f, Op op);
void call_free(Call *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Call, call_free)

/* Runs @c on a worker; returns it, its failure told to the test log. */
Call *run(Call *c);
