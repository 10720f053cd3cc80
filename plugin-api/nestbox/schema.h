/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * nestbox/schema.h - the typed table a plugin declares its settings with.
 *
 * A plugin never parses its configuration. It declares every option once,
 * in a static table of `struct nbx_config_field`, and the core:
 *
 *  - validates the plugin's section (and every machine of a machinery)
 *    before ANY machine is touched, reporting every problem at once as
 *    `file:line: key.path: what is wrong`;
 *  - rejects keys the table does not declare (a typo is an error, not a
 *    silently ignored setting);
 *  - fills in defaults, so a plugin reading a declared key through the
 *    host's config look-ups always gets a valid value;
 *  - generates the commented configuration template from the same table
 *    (`nestboxd --config-template NAME`).
 *
 * Example, for a plugin with a directory setting and a bounded integer:
 *
 *     static const struct nbx_config_field example_fields[] = {
 *         { .name = "overlay_dir", .type = NBX_FIELD_DIRECTORY,
 *           .flags = NBX_FIELD_MUST_EXIST | NBX_FIELD_WRITABLE,
 *           .default_value = "/var/lib/nestbox/overlays",
 *           .doc = "Where the per-run disk overlays are created." },
 *         { .name = "stop_timeout", .type = NBX_FIELD_INTEGER,
 *           .min = 1, .max = 3600, .default_value = "10",
 *           .doc = "Seconds to wait for QEMU to quit before killing it." },
 *         { 0 }
 *     };
 *     static const struct nbx_config_schema example_schema = {
 *         .struct_size = sizeof(struct nbx_config_schema),
 *         .field_size = sizeof(struct nbx_config_field),
 *         .fields = example_fields,
 *     };
 *
 * Paths (FILE, DIRECTORY, UNIX_SOCKET) written relative in a file are made
 * absolute against the configuration directory, so a plugin always reads
 * absolute paths. A group whose table declares a BOOLEAN `enabled` and that
 * says `enabled = false` is not validated beyond that key: a disabled
 * machine or module may be half-configured.
 *
 * A table whose declarations contradict themselves (a default that does not
 * pass its own checks, min > max, an enum without choices, a group without
 * children, a duplicate name, an unknown type or flag) makes the loader
 * refuse the whole plugin with the field named: such a plugin could never
 * be configured correctly.
 */
#ifndef NESTBOX_SCHEMA_H
#define NESTBOX_SCHEMA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * enum nbx_field_type - what a setting holds, and how it is checked.
 *
 * The checks are those of Cuckoo3's type loaders. Values are stable; new
 * types are only appended. A table that uses a type the running core does
 * not know is refused as malformed (the plugin needs a newer core).
 */
enum nbx_field_type {
	/** Terminates a table. A zeroed entry (`{ 0 }`) is a terminator. */
	NBX_FIELD_END = 0,
	/** Any string. With NBX_FIELD_LOWERCASE the value is lower-cased. */
	NBX_FIELD_STRING = 1,
	/** A 64-bit signed integer between @min and @max (see there). */
	NBX_FIELD_INTEGER = 2,
	/** `true` or `false`. */
	NBX_FIELD_BOOLEAN = 3,
	/** A path to a regular file; see the NBX_FIELD_MUST_EXIST family. */
	NBX_FIELD_FILE = 4,
	/** A path to a directory; see the NBX_FIELD_MUST_EXIST family. */
	NBX_FIELD_DIRECTORY = 5,
	/**
	 * A path for a UNIX socket: at most 107 bytes (sun_path); with
	 * NBX_FIELD_MUST_EXIST it must be a socket, otherwise its directory
	 * must exist and be writable.
	 */
	NBX_FIELD_UNIX_SOCKET = 6,
	/** A network interface name; it must exist, and with NBX_FIELD_MUST_BE_UP be up. */
	NBX_FIELD_INTERFACE = 7,
	/** A MAC address, `aa:bb:cc:dd:ee:ff` (stored lower-cased). */
	NBX_FIELD_MAC_ADDRESS = 8,
	/** An IPv4 or IPv6 address, without prefix length. */
	NBX_FIELD_IP_ADDRESS = 9,
	/**
	 * A list of scalars, all of type @element_type (STRING when 0), each
	 * checked as that type with this field's flags. Written `[ "a", "b" ]`.
	 */
	NBX_FIELD_LIST = 10,
	/** A string that must be one of @choices (compared case-sensitively). */
	NBX_FIELD_ENUM = 11,
	/** A group `{ ... }` whose members are declared by @children. */
	NBX_FIELD_GROUP = 12,
	/** A list of groups `( { ... }, { ... } )`, each checked against @children. */
	NBX_FIELD_GROUP_LIST = 13,
};

/**
 * Field flags. Bits not listed here are refused by the loader, so a future
 * bit never silently means nothing to an older core.
 */
enum nbx_field_flags {
	/** The key must be present; a default is not allowed with it. */
	NBX_FIELD_REQUIRED = 1u << 0,
	/** STRING, ENUM: lower-case the value before checking and storing it. */
	NBX_FIELD_LOWERCASE = 1u << 1,
	/** FILE, DIRECTORY, UNIX_SOCKET: the path must exist. */
	NBX_FIELD_MUST_EXIST = 1u << 2,
	/** FILE, DIRECTORY: the daemon must be able to read it (implies MUST_EXIST). */
	NBX_FIELD_READABLE = 1u << 3,
	/** FILE, DIRECTORY: the daemon must be able to write it (implies MUST_EXIST). */
	NBX_FIELD_WRITABLE = 1u << 4,
	/** FILE, DIRECTORY: the daemon must be able to execute / enter it (implies MUST_EXIST). */
	NBX_FIELD_EXECUTABLE = 1u << 5,
	/** INTERFACE: the interface must be administratively up. */
	NBX_FIELD_MUST_BE_UP = 1u << 6,
	/** STRING, LIST, GROUP_LIST: an empty value is an error. */
	NBX_FIELD_NON_EMPTY = 1u << 7,
};

/** All flag bits this version of the ABI defines. */
#define NBX_FIELD_KNOWN_FLAGS 0xffu

struct nbx_config_field;

/**
 * struct nbx_config_schema - a table of fields, with the size it was built with.
 * @struct_size: sizeof(struct nbx_config_schema) as the plugin was compiled.
 * @field_size:  sizeof(struct nbx_config_field) as the plugin was compiled;
 *               the core walks @fields (and every @children table) with this
 *               stride, so fields appended to `struct nbx_config_field` in a
 *               later minor version never misalign an older plugin's table.
 * @fields:      the fields, terminated by an entry whose @type is
 *               NBX_FIELD_END (a zeroed entry).
 *
 * Static storage, owned by the plugin, read by the core as long as the
 * plugin is loaded (plugins are never unloaded).
 */
struct nbx_config_schema {
	uint32_t struct_size;
	uint32_t field_size;
	const struct nbx_config_field *fields;
};

/**
 * struct nbx_config_field - one setting.
 * @name:          key in the configuration file; `[a-z][a-z0-9_]*`, unique
 *                 within its table. Keys the core owns (`enabled`, `order`,
 *                 `required`, `machines` and, inside a machine, the core machine keys
 *                 listed in machinery.h) may not be declared again.
 * @type:          an `enum nbx_field_type`.
 * @flags:         an OR of `enum nbx_field_flags`.
 * @doc:           one line, no trailing period needed; printed above the key
 *                 in the generated template. Required.
 * @default_value: the default as text, parsed by the core with the field's
 *                 own type: "10" (INTEGER), "true" (BOOLEAN), the bare value
 *                 for string-like types ("/var/lib/x", "eth0", not quoted),
 *                 libconfig list syntax for LIST ("[ \"a\", \"b\" ]"). NULL
 *                 means no default: the key is then optional (absent unless
 *                 set) or, with NBX_FIELD_REQUIRED, mandatory. GROUP and
 *                 GROUP_LIST take no default (a missing GROUP is created
 *                 with its children's defaults). Checked when the plugin
 *                 loads, with the type's syntax only: whether a path exists
 *                 is checked when the configuration is validated.
 * @min, @max:     INTEGER bounds, inclusive; both 0 means "no bound" (for
 *                 a one-sided bound use INT64_MIN or INT64_MAX for the other
 *                 side). For LIST and GROUP_LIST, the same bounds on the
 *                 number of elements.
 * @choices:       ENUM: the accepted values, NULL-terminated, at least one.
 * @children:      GROUP, GROUP_LIST: the member table (same @field_size),
 *                 terminated like the top-level one.
 * @element_type:  LIST: the type of every element, a scalar type (STRING,
 *                 INTEGER, BOOLEAN, FILE, DIRECTORY, UNIX_SOCKET, INTERFACE,
 *                 MAC_ADDRESS, IP_ADDRESS, ENUM); 0 means STRING.
 */
struct nbx_config_field {
	const char *name;
	uint32_t type;
	uint32_t flags;
	const char *doc;
	const char *default_value;
	int64_t min;
	int64_t max;
	const char *const *choices;
	const struct nbx_config_field *children;
	uint32_t element_type;
};

#ifdef __cplusplus
}
#endif

#endif /* NESTBOX_SCHEMA_H */
