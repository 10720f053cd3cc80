/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: arbitrary bytes as a libconfig document, read the way
 * nestboxd reads its files (config_source: integer literals kept in 64 bits,
 * out-of-range ones marked, `@include` refused for a text with no file),
 * validated against a schema with one field of every type (a group and a
 * `machines` group list with nested fields among them), syntax only, the way
 * defaults and `nestboxd --check` without an environment validate.
 *
 * Oracle besides the sanitizers: a document that validated clean stays clean
 * when validated again (normalised values -- lower case, absolute paths,
 * filled-in defaults -- must pass their own checks).
 */
#include <libconfig.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_source.h"
#include "diagnostics.h"
#include "schema.h"
#include "schema_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const levels[] = { "error", "warning", "info", "debug", NULL };

static const struct nbx_config_field disk_fields[] = {
	{ .name = "image", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_REQUIRED, .doc = "d" },
	{ .name = "format", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE,
	  .choices = (const char *const[]){ "qcow2", "raw", NULL }, .default_value = "qcow2",
	  .doc = "d" },
	{ .name = "size", .type = NBX_FIELD_INTEGER, .min = 1, .max = INT64_MAX,
	  .default_value = "1024", .doc = "d" },
	{ 0 },
};

static const struct nbx_config_field machine_fields[] = {
	{ .name = "name", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED | NBX_FIELD_NON_EMPTY,
	  .doc = "d" },
	{ .name = "ip", .type = NBX_FIELD_IP_ADDRESS, .flags = NBX_FIELD_REQUIRED, .doc = "d" },
	{ .name = "mac_address", .type = NBX_FIELD_MAC_ADDRESS, .doc = "d" },
	{ .name = "platform", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "windows", .doc = "d" },
	{ .name = "tags", .type = NBX_FIELD_LIST, .flags = NBX_FIELD_LOWERCASE, .max = 16,
	  .default_value = "[ ]", .doc = "d" },
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true", .doc = "d" },
	{ .name = "cpus", .type = NBX_FIELD_INTEGER, .min = 1, .max = 64, .default_value = "1",
	  .doc = "d" },
	{ .name = "disk", .type = NBX_FIELD_GROUP, .children = disk_fields, .doc = "d" },
	{ 0 },
};

static const struct nbx_config_field network_fields[] = {
	{ .name = "interface", .type = NBX_FIELD_INTERFACE, .flags = NBX_FIELD_MUST_BE_UP,
	  .default_value = "lo", .doc = "d" },
	{ .name = "gateway", .type = NBX_FIELD_IP_ADDRESS, .default_value = "192.168.56.1",
	  .doc = "d" },
	{ .name = "dns", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_IP_ADDRESS,
	  .default_value = "[ \"1.1.1.1\", \"::1\" ]", .doc = "d" },
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true", .doc = "d" },
	{ 0 },
};

static const struct nbx_config_field fuzz_fields[] = {
	{ .name = "label", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE | NBX_FIELD_NON_EMPTY,
	  .default_value = "Nestbox", .doc = "d" },
	{ .name = "port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535, .default_value = "2042",
	  .doc = "d" },
	{ .name = "verbose", .type = NBX_FIELD_BOOLEAN, .default_value = "false", .doc = "d" },
	{ .name = "kernel", .type = NBX_FIELD_FILE,
	  .flags = NBX_FIELD_MUST_EXIST | NBX_FIELD_READABLE | NBX_FIELD_EXECUTABLE, .doc = "d" },
	{ .name = "state_dir", .type = NBX_FIELD_DIRECTORY,
	  .flags = NBX_FIELD_MUST_EXIST | NBX_FIELD_WRITABLE, .default_value = "state", .doc = "d" },
	{ .name = "socket", .type = NBX_FIELD_UNIX_SOCKET, .default_value = "nestbox.sock",
	  .doc = "d" },
	{ .name = "bridge", .type = NBX_FIELD_INTERFACE, .doc = "d" },
	{ .name = "mac", .type = NBX_FIELD_MAC_ADDRESS, .doc = "d" },
	{ .name = "address", .type = NBX_FIELD_IP_ADDRESS, .default_value = "::1", .doc = "d" },
	{ .name = "paths", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_DIRECTORY,
	  .flags = NBX_FIELD_MUST_EXIST, .default_value = "[ \"/tmp\" ]", .doc = "d" },
	{ .name = "counts", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_INTEGER, .doc = "d" },
	{ .name = "levels", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_ENUM,
	  .flags = NBX_FIELD_LOWERCASE | NBX_FIELD_NON_EMPTY, .choices = levels,
	  .default_value = "[ \"info\" ]", .doc = "d" },
	{ .name = "log_level", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE,
	  .choices = levels, .default_value = "info", .doc = "d" },
	{ .name = "network", .type = NBX_FIELD_GROUP, .children = network_fields, .doc = "d" },
	{ .name = "machines", .type = NBX_FIELD_GROUP_LIST, .max = 64, .children = machine_fields,
	  .doc = "d" },
	{ 0 },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = NULL;
	NbxSchema *schema;
	NbxDiagnostics *diagnostics = nbx_diagnostics_new();
	NbxValidation validation = { .base_dir = "/tmp", .check_environment = FALSE };
	config_t config;

	if (size > 64 * 1024) {
		nbx_diagnostics_free(diagnostics);
		return 0;
	}
	text = g_malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	config_init(&config);
	if (!nbx_config_source_read_text(&config, "fuzz.conf", text, diagnostics)) {
		/* A text that does not parse gets one line saying where and why. */
		if (nbx_diagnostics_count(diagnostics) == 0)
			abort();
		if (g_getenv("NBX_FUZZ_PRINT") != NULL)
			nbx_diagnostics_print(diagnostics, stdout);
		nbx_diagnostics_free(diagnostics);
		config_destroy(&config);
		return 0;
	}
	schema = nbx_schema_new_static(fuzz_fields);
	validation.diagnostics = diagnostics;
	if (nbx_schema_validate_group(schema, config_root_setting(&config), NULL, &validation)) {
		/* Clean once, clean again: normalised values pass their own checks. */
		if (!nbx_schema_validate_group(schema, config_root_setting(&config), NULL,
					       &validation)) {
			nbx_diagnostics_print(diagnostics, stderr);
			abort();
		}
	}
	/* NBX_FUZZ_PRINT=1: show what an input produced (triage, seed writing). */
	if (g_getenv("NBX_FUZZ_PRINT") != NULL)
		nbx_diagnostics_print(diagnostics, stdout);
	/* Every diagnostic is one printable line. */
	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++) {
		const char *line = nbx_diagnostics_get(diagnostics, i);

		if (line == NULL || line[0] == '\0')
			abort();
	}
	nbx_diagnostics_free(diagnostics);
	nbx_schema_free(schema);
	config_destroy(&config);
	return 0;
}
