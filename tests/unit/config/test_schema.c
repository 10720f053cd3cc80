/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The schema engine on its own: every field type and check of
 * <nestbox/schema.h> against real files (so `file:line` is real), defaults,
 * all-problems-at-once reporting, and the self-checks nbx_schema_import runs
 * on a plugin's table (each naming the field it refuses).
 */
#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "config_source.h"
#include "core_schema.h"
#include "diagnostics.h"
#include "schema.h"
#include "schema_validate.h"

#define DOC .doc = "d"

/* The case tables leave trailing members (expected values) out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- tables used by the validation cases -------------------------------- */

static const struct nbx_config_field string_fields[] = {
	{ .name = "s", .type = NBX_FIELD_STRING, DOC },
	{ .name = "lower", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE, DOC },
	{ .name = "nonempty", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_NON_EMPTY, DOC },
	{ 0 },
};

static const struct nbx_config_field integer_fields[] = {
	{ .name = "port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535, DOC },
	{ .name = "any", .type = NBX_FIELD_INTEGER, DOC },
	{ .name = "negative", .type = NBX_FIELD_INTEGER, .min = -10, .max = -1, DOC },
	{ .name = "at_least", .type = NBX_FIELD_INTEGER, .min = 5, .max = INT64_MAX, DOC },
	{ 0 },
};

static const struct nbx_config_field boolean_fields[] = {
	{ .name = "b", .type = NBX_FIELD_BOOLEAN, DOC },
	{ 0 },
};

static const struct nbx_config_field file_fields[] = {
	{ .name = "f", .type = NBX_FIELD_FILE, DOC },
	{ .name = "fe", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_MUST_EXIST, DOC },
	{ .name = "fr", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_READABLE, DOC },
	{ .name = "fw", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_WRITABLE, DOC },
	{ .name = "fx", .type = NBX_FIELD_FILE, .flags = NBX_FIELD_EXECUTABLE, DOC },
	{ 0 },
};

static const struct nbx_config_field directory_fields[] = {
	{ .name = "d", .type = NBX_FIELD_DIRECTORY, .flags = NBX_FIELD_MUST_EXIST, DOC },
	{ .name = "dany", .type = NBX_FIELD_DIRECTORY, DOC },
	{ .name = "dr", .type = NBX_FIELD_DIRECTORY, .flags = NBX_FIELD_READABLE, DOC },
	{ .name = "dw", .type = NBX_FIELD_DIRECTORY, .flags = NBX_FIELD_WRITABLE, DOC },
	{ .name = "dx", .type = NBX_FIELD_DIRECTORY, .flags = NBX_FIELD_EXECUTABLE, DOC },
	{ 0 },
};

static const struct nbx_config_field socket_fields[] = {
	{ .name = "sock", .type = NBX_FIELD_UNIX_SOCKET, DOC },
	{ .name = "sockx", .type = NBX_FIELD_UNIX_SOCKET, .flags = NBX_FIELD_MUST_EXIST, DOC },
	{ 0 },
};

static const struct nbx_config_field interface_fields[] = {
	{ .name = "up", .type = NBX_FIELD_INTERFACE, .flags = NBX_FIELD_MUST_BE_UP, DOC },
	{ .name = "ifc", .type = NBX_FIELD_INTERFACE, DOC },
	{ 0 },
};

static const struct nbx_config_field mac_fields[] = {
	{ .name = "mac", .type = NBX_FIELD_MAC_ADDRESS, DOC },
	{ 0 },
};

static const struct nbx_config_field ip_fields[] = {
	{ .name = "ip", .type = NBX_FIELD_IP_ADDRESS, DOC },
	{ 0 },
};

static const char *const speeds[] = { "fast", "slow", NULL };

static const struct nbx_config_field list_fields[] = {
	{ .name = "tags", .type = NBX_FIELD_LIST, .flags = NBX_FIELD_LOWERCASE, DOC },
	{ .name = "numbers", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_INTEGER, DOC },
	{ .name = "ips", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_IP_ADDRESS, DOC },
	{ .name = "nonempty", .type = NBX_FIELD_LIST, .flags = NBX_FIELD_NON_EMPTY, DOC },
	{ .name = "counted", .type = NBX_FIELD_LIST, .min = 1, .max = 2, DOC },
	{ .name = "modes", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_ENUM,
	  .choices = speeds, DOC },
	{ .name = "flags", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_BOOLEAN, DOC },
	/* min/max bound the count, not the values (a bug once applied them to both). */
	{ .name = "ports", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_INTEGER, .min = 1,
	  .max = 3, DOC },
	{ 0 },
};

static const struct nbx_config_field enum_fields[] = {
	{ .name = "mode", .type = NBX_FIELD_ENUM, .choices = speeds, DOC },
	{ .name = "lmode", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE, .choices = speeds,
	  DOC },
	{ 0 },
};

static const struct nbx_config_field vm_children[] = {
	{ .name = "memory", .type = NBX_FIELD_INTEGER, .min = 1, .max = 1024, .default_value = "512",
	  DOC },
	{ .name = "label", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED, DOC },
	{ .name = "verbose", .type = NBX_FIELD_BOOLEAN, .default_value = "false", DOC },
	{ 0 },
};

static const struct nbx_config_field group_fields[] = {
	{ .name = "vm", .type = NBX_FIELD_GROUP, .children = vm_children, DOC },
	{ 0 },
};

static const struct nbx_config_field machine_children[] = {
	{ .name = "name", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED, DOC },
	{ .name = "ip", .type = NBX_FIELD_IP_ADDRESS, .flags = NBX_FIELD_REQUIRED, DOC },
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true", DOC },
	{ .name = "cpus", .type = NBX_FIELD_INTEGER, .min = 1, .max = 8, .default_value = "1", DOC },
	{ 0 },
};

static const struct nbx_config_field group_list_fields[] = {
	{ .name = "machines", .type = NBX_FIELD_GROUP_LIST, .children = machine_children, DOC },
	{ .name = "pools", .type = NBX_FIELD_GROUP_LIST, .flags = NBX_FIELD_NON_EMPTY,
	  .children = machine_children, DOC },
	{ .name = "pairs", .type = NBX_FIELD_GROUP_LIST, .min = 1, .max = 2,
	  .children = machine_children, DOC },
	{ 0 },
};

static const struct nbx_config_field enabled_fields[] = {
	{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true", DOC },
	{ .name = "port", .type = NBX_FIELD_INTEGER, .flags = NBX_FIELD_REQUIRED, .min = 1,
	  .max = 65535, DOC },
	{ 0 },
};

static const struct nbx_config_field required_fields[] = {
	{ .name = "port", .type = NBX_FIELD_INTEGER, .flags = NBX_FIELD_REQUIRED, DOC },
	{ .name = "host", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_REQUIRED, DOC },
	{ 0 },
};

static const struct nbx_config_field defaulted_children[] = {
	{ .name = "gi", .type = NBX_FIELD_INTEGER, .default_value = "3", DOC },
	{ .name = "gs", .type = NBX_FIELD_STRING, .default_value = "q", DOC },
	{ .name = "gopt", .type = NBX_FIELD_STRING, DOC },
	{ 0 },
};

static const struct nbx_config_field default_fields[] = {
	{ .name = "i", .type = NBX_FIELD_INTEGER, .default_value = "10", DOC },
	{ .name = "b", .type = NBX_FIELD_BOOLEAN, .default_value = "true", DOC },
	{ .name = "s", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "Hello", DOC },
	{ .name = "l", .type = NBX_FIELD_LIST, .flags = NBX_FIELD_LOWERCASE,
	  .default_value = "[ \"x\", \"Y\" ]", DOC },
	{ .name = "empty", .type = NBX_FIELD_LIST, .default_value = "[ ]", DOC },
	{ .name = "d", .type = NBX_FIELD_DIRECTORY, .default_value = "subdir", DOC },
	{ .name = "e", .type = NBX_FIELD_ENUM, .choices = speeds, .default_value = "slow", DOC },
	{ .name = "optional", .type = NBX_FIELD_STRING, DOC },
	{ .name = "g", .type = NBX_FIELD_GROUP, .children = defaulted_children, DOC },
	{ 0 },
};

/* ---- validation cases ---------------------------------------------------- */

enum {
	SYNTAX_ONLY = 1 << 0, /* check_environment = FALSE */
	NON_ROOT = 1 << 1,    /* root passes every access() check */
};

typedef struct {
	const char *name;
	const struct nbx_config_field *fields;
	/* @DIR@: the case's directory (also base_dir); @LONG107@, @LONG108@: long paths. */
	const char *text;
	guint flags;
	/* Exact diagnostics, in order; @FILE@ is the config file, @UID@ the euid. */
	const char *diagnostics[5];
	/* Values after validation: path "a/b/0/c" (numbers index lists). */
	struct {
		const char *path;
		const char *value;
	} values[10];
} ValidateCase;

static const ValidateCase validate_cases[] = {
	/* string */
	{ "string/ok", string_fields, "s = \"Hello\";\nlower = \"MiXeD\";\nnonempty = \"x\";\n", 0,
	  { NULL },
	  { { "s", "Hello" }, { "lower", "mixed" }, { "nonempty", "x" } } },
	{ "string/non-empty", string_fields, "s = \"\";\nnonempty = \"\";\n", 0,
	  { "@FILE@:2: nonempty: must not be empty" } },
	{ "string/wrong-type", string_fields, "s = 5;\n", 0,
	  { "@FILE@:1: s: expected a string, found an integer" } },
	/* Raw in the file, and through libconfig's \x escape. */
	{ "string/invalid-utf8", string_fields,
	  "s = \"ab\xff\";\nlower = \"\\xc3\\x28\";\nnonempty = \"caf\xc3\xa9\";\n", 0,
	  { "@FILE@:1: s: is not valid UTF-8 (byte 0xff at offset 2); write it in UTF-8",
	    "@FILE@:2: lower: is not valid UTF-8 (byte 0xc3 at offset 0); write it in UTF-8" } },
	{ "string/invalid-utf8-in-a-list", list_fields, "tags = [ \"ok\", \"\xfe\" ];\n", 0,
	  { "@FILE@:1: tags[1]: is not valid UTF-8 (byte 0xfe at offset 0); write it in UTF-8" } },
	/* A 100 KB value is not echoed whole. */
	{ "string/huge-value-cut", enum_fields, "mode = \"@HUGE@\";\n", 0,
	  { "@FILE@:1: mode: must be one of fast, slow; found \"@HUGE256@\"... (100000 bytes)" } },
	/* integer */
	{ "integer/min-inclusive", integer_fields, "port = 1;\nnegative = -10;\nat_least = 5;\n", 0,
	  { NULL }, { { "port", "1" }, { "negative", "-10" }, { "at_least", "5" } } },
	{ "integer/max-inclusive", integer_fields,
	  "port = 65535;\nnegative = -1;\nat_least = 9223372036854775807L;\n", 0, { NULL },
	  { { "port", "65535" }, { "negative", "-1" }, { "at_least", "9223372036854775807" } } },
	{ "integer/below-min", integer_fields, "port = 0;\nnegative = 0;\nat_least = 4;\n", 0,
	  { "@FILE@:1: port: must be between 1 and 65535, found 0",
	    "@FILE@:2: negative: must be between -10 and -1, found 0",
	    "@FILE@:3: at_least: must be between 5 and 9223372036854775807, found 4" } },
	{ "integer/above-max", integer_fields, "\nport = 65536;\n", 0,
	  { "@FILE@:2: port: must be between 1 and 65535, found 65536" } },
	{ "integer/unbounded", integer_fields, "any = -5000000000L;\n", 0, { NULL },
	  { { "any", "-5000000000" } } },
	{ "integer/wrong-type", integer_fields, "port = \"80\";\nany = 1.5;\n", 0,
	  { "@FILE@:1: port: expected an integer, found a string",
	    "@FILE@:2: any: expected an integer, found a float" } },
	/* libconfig 1.5 keeps an integer without L in 32 bits: -9223372036854775808 read as 0. */
	{ "integer/int64-min-below-min", integer_fields,
	  "port = -9223372036854775808;\nat_least = 2147483648;\n", 0,
	  { "@FILE@:1: port: must be between 1 and 65535, found -9223372036854775808" } },
	{ "integer/beyond-32-bits", integer_fields,
	  "any = 5000000000;\nat_least = 0x1FFFFFFFF;\nnegative = -2;\n", 0, { NULL },
	  { { "any", "5000000000" }, { "at_least", "8589934591" }, { "negative", "-2" } } },
	/* ... and read 99999999999999999999 as -1. */
	{ "integer/beyond-64-bits", integer_fields,
	  "port = 99999999999999999999;\nany = -99999999999999999999;\n"
	  "at_least = 0xFFFFFFFFFFFFFFFFFF;\n",
	  0,
	  { "@FILE@:1: port: must be between 1 and 65535, found 99999999999999999999, too large "
	    "for a 64-bit integer",
	    "@FILE@:2: any: -99999999999999999999 is too small for a 64-bit integer "
	    "(-9223372036854775808 to 9223372036854775807)",
	    "@FILE@:3: at_least: must be between 5 and 9223372036854775807, found "
	    "0xFFFFFFFFFFFFFFFFFF, too large for a 64-bit integer" } },
	/* A marker stands in for the literal: a real value equal to it stays a value. */
	{ "integer/beyond-64-bits-beside-int64-max", integer_fields,
	  "at_least = 9223372036854775807;\nany = 99999999999999999999L;\n", 0,
	  { "@FILE@:2: any: 99999999999999999999L is too large for a 64-bit integer "
	    "(-9223372036854775808 to 9223372036854775807)" },
	  { { "at_least", "9223372036854775807" } } },
	{ "integer/beyond-64-bits-in-a-list", list_fields, "numbers = [ 1, 99999999999999999999 ];\n",
	  0,
	  { "@FILE@:1: numbers[1]: 99999999999999999999 is too large for a 64-bit integer "
	    "(-9223372036854775808 to 9223372036854775807)" } },
	/* boolean */
	{ "boolean/ok", boolean_fields, "b = false;\n", 0, { NULL }, { { "b", "false" } } },
	{ "boolean/string", boolean_fields, "b = \"yes\";\n", 0,
	  { "@FILE@:1: b: expected a boolean (true or false), found a string" } },
	{ "boolean/integer", boolean_fields, "b = 1;\n", 0,
	  { "@FILE@:1: b: expected a boolean (true or false), found an integer" } },
	/* file */
	{ "file/relative-made-absolute", file_fields,
	  "f = \"file.txt\";\nfe = \"file.txt\";\nfr = \"file.txt\";\nfw = \"file.txt\";\n"
	  "fx = \"script.sh\";\n",
	  0, { NULL },
	  { { "f", "@DIR@/file.txt" },
	    { "fe", "@DIR@/file.txt" },
	    { "fr", "@DIR@/file.txt" },
	    { "fw", "@DIR@/file.txt" },
	    { "fx", "@DIR@/script.sh" } } },
	{ "file/absolute-kept", file_fields, "fe = \"@DIR@/subdir/../file.txt\";\n", 0, { NULL },
	  { { "fe", "@DIR@/subdir/../file.txt" } } },
	{ "file/missing-optional", file_fields, "f = \"nope.txt\";\n", 0, { NULL },
	  { { "f", "@DIR@/nope.txt" } } },
	{ "file/must-exist", file_fields, "fe = \"nope.txt\";\nfr = \"nope.txt\";\n", 0,
	  { "@FILE@:1: fe: file does not exist: @DIR@/nope.txt",
	    "@FILE@:2: fr: file does not exist: @DIR@/nope.txt" } },
	{ "file/not-regular", file_fields, "f = \"subdir\";\nfe = \"sock\";\n", 0,
	  { "@FILE@:1: f: not a regular file: @DIR@/subdir",
	    "@FILE@:2: fe: not a regular file: @DIR@/sock" } },
	{ "file/not-executable", file_fields, "fx = \"file.txt\";\n", 0,
	  { "@FILE@:1: fx: not executable by uid @UID@: @DIR@/file.txt (Permission denied)" } },
	{ "file/not-readable", file_fields, "fr = \"secret\";\n", NON_ROOT,
	  { "@FILE@:1: fr: not readable by uid @UID@: @DIR@/secret (Permission denied)" } },
	{ "file/not-writable", file_fields, "fw = \"secret\";\n", NON_ROOT,
	  { "@FILE@:1: fw: not writable by uid @UID@: @DIR@/secret (Permission denied)" } },
	{ "file/empty", file_fields, "f = \"\";\n", 0, { "@FILE@:1: f: empty path" } },
	{ "file/wrong-type", file_fields, "f = 3;\n", 0,
	  { "@FILE@:1: f: expected a string, found an integer" } },
	{ "file/syntax-only", file_fields, "fe = \"nope.txt\";\nfx = \"file.txt\";\n", SYNTAX_ONLY,
	  { NULL }, { { "fe", "@DIR@/nope.txt" } } },
	/* directory */
	{ "directory/ok", directory_fields,
	  "d = \"subdir\";\ndr = \"subdir\";\ndw = \"subdir\";\ndx = \"subdir\";\ndany = \"nodir\";\n",
	  0, { NULL },
	  { { "d", "@DIR@/subdir" }, { "dw", "@DIR@/subdir" }, { "dany", "@DIR@/nodir" } } },
	{ "directory/missing", directory_fields, "d = \"nodir\";\n", 0,
	  { "@FILE@:1: d: directory does not exist: @DIR@/nodir" } },
	{ "directory/not-a-directory", directory_fields, "d = \"file.txt\";\ndany = \"file.txt\";\n",
	  0,
	  { "@FILE@:1: d: not a directory: @DIR@/file.txt",
	    "@FILE@:2: dany: not a directory: @DIR@/file.txt" } },
	{ "directory/not-writable", directory_fields, "dw = \"closed\";\n", NON_ROOT,
	  { "@FILE@:1: dw: not writable by uid @UID@: @DIR@/closed (Permission denied)" } },
	/* unix socket */
	{ "socket/new-in-existing-dir", socket_fields, "sock = \"new.sock\";\n", 0, { NULL },
	  { { "sock", "@DIR@/new.sock" } } },
	{ "socket/dir-missing", socket_fields, "sock = \"nodir/x.sock\";\n", 0,
	  { "@FILE@:1: sock: directory of the socket is missing or not writable: @DIR@/nodir "
	    "(No such file or directory)" } },
	{ "socket/must-exist-ok", socket_fields, "sockx = \"sock\";\n", 0, { NULL },
	  { { "sockx", "@DIR@/sock" } } },
	{ "socket/must-exist-not-a-socket", socket_fields, "sockx = \"file.txt\";\n", 0,
	  { "@FILE@:1: sockx: not a socket: @DIR@/file.txt" } },
	{ "socket/must-exist-missing", socket_fields, "sockx = \"nope.sock\";\n", 0,
	  { "@FILE@:1: sockx: socket does not exist: @DIR@/nope.sock" } },
	{ "socket/107-bytes", socket_fields, "sock = \"@LONG107@\";\n", SYNTAX_ONLY, { NULL },
	  { { "sock", "@LONG107@" } } },
	{ "socket/108-bytes", socket_fields, "sock = \"@LONG108@\";\nsockx = \"@LONG108@\";\n",
	  SYNTAX_ONLY,
	  { "@FILE@:1: sock: socket path is 108 bytes, longer than the 107 a UNIX socket allows: "
	    "@LONG108@",
	    "@FILE@:2: sockx: socket path is 108 bytes, longer than the 107 a UNIX socket allows: "
	    "@LONG108@" } },
	/* interface */
	{ "interface/lo-up", interface_fields, "up = \"lo\";\nifc = \"lo\";\n", 0, { NULL },
	  { { "up", "lo" } } },
	{ "interface/missing", interface_fields, "ifc = \"nbxnope0\";\n", 0,
	  { "@FILE@:1: ifc: network interface does not exist: nbxnope0" } },
	{ "interface/missing-syntax-only", interface_fields, "ifc = \"nbxnope0\";\n", SYNTAX_ONLY,
	  { NULL } },
	{ "interface/bad-name", interface_fields,
	  "ifc = \"eth0:1\";\nup = \"a/b\";\n", SYNTAX_ONLY,
	  { "@FILE@:2: up: not a network interface name: \"a/b\"",
	    "@FILE@:1: ifc: not a network interface name: \"eth0:1\"" } },
	{ "interface/too-long-or-empty", interface_fields,
	  "ifc = \"abcdefghijklmnop\";\nup = \"\";\n", 0,
	  { "@FILE@:2: up: not a network interface name: \"\"",
	    "@FILE@:1: ifc: not a network interface name: \"abcdefghijklmnop\"" } },
	/* MAC */
	{ "mac/lower-cased", mac_fields, "mac = \"AA:bb:CC:0d:EE:ff\";\n", 0, { NULL },
	  { { "mac", "aa:bb:cc:0d:ee:ff" } } },
	{ "mac/too-short", mac_fields, "mac = \"aa:bb:cc:dd:ee\";\n", 0,
	  { "@FILE@:1: mac: not a MAC address (expected aa:bb:cc:dd:ee:ff): \"aa:bb:cc:dd:ee\"" } },
	{ "mac/dashes", mac_fields, "mac = \"aa-bb-cc-dd-ee-ff\";\n", 0,
	  { "@FILE@:1: mac: not a MAC address (expected aa:bb:cc:dd:ee:ff): \"aa-bb-cc-dd-ee-ff\"" } },
	{ "mac/multicast", mac_fields, "mac = \"01:00:5E:00:00:fb\";\n", 0,
	  { "@FILE@:1: mac: \"01:00:5E:00:00:fb\" is a multicast address (the lowest bit of its "
	    "first byte is set); a machine needs a unicast one, e.g. 52:54:00:12:34:56" } },
	{ "mac/broadcast", mac_fields, "mac = \"ff:ff:ff:ff:ff:ff\";\n", 0,
	  { "@FILE@:1: mac: \"ff:ff:ff:ff:ff:ff\" is a multicast address (the lowest bit of its "
	    "first byte is set); a machine needs a unicast one, e.g. 52:54:00:12:34:56" } },
	{ "mac/zero", mac_fields, "mac = \"00:00:00:00:00:00\";\n", 0,
	  { "@FILE@:1: mac: 00:00:00:00:00:00 is not a usable MAC address" } },
	{ "mac/not-hex", mac_fields, "mac = \"aa:bb:cc:dd:ee:fg\";\n", 0,
	  { "@FILE@:1: mac: not a MAC address (expected aa:bb:cc:dd:ee:ff): \"aa:bb:cc:dd:ee:fg\"" } },
	/* IP */
	{ "ip/v4", ip_fields, "ip = \"192.168.56.10\";\n", 0, { NULL },
	  { { "ip", "192.168.56.10" } } },
	{ "ip/v6", ip_fields, "ip = \"fe80::1\";\n", 0, { NULL }, { { "ip", "fe80::1" } } },
	/* One spelling per address, so that duplicates are found by text. */
	{ "ip/v6-canonical", list_fields,
	  "ips = [ \"FE80::A\", \"0:0:0:0:0:0:0:1\", \"2001:DB8:0:0:1::1\" ];\n", 0, { NULL },
	  { { "ips", "[fe80::a,::1,2001:db8::1:0:0:1]" } } },
	{ "ip/invalid", ip_fields, "ip = \"300.1.1.1\";\n", 0,
	  { "@FILE@:1: ip: not an IPv4 or IPv6 address: \"300.1.1.1\"" } },
	{ "ip/with-prefix", ip_fields, "ip = \"10.0.0.0/8\";\n", 0,
	  { "@FILE@:1: ip: not an IPv4 or IPv6 address: \"10.0.0.0/8\"" } },
	{ "ip/v6-with-prefix", ip_fields, "ip = \"fd00::/64\";\n", 0,
	  { "@FILE@:1: ip: not an IPv4 or IPv6 address: \"fd00::/64\"" } },
	/* list */
	{ "list/ok", list_fields,
	  "tags = [ \"A\", \"b\" ];\nnumbers = [ 1, 2, 3 ];\nips = ( \"10.0.0.1\", \"::1\" );\n"
	  "nonempty = [ \"x\" ];\ncounted = [ \"a\", \"b\" ];\nmodes = [ \"slow\" ];\n"
	  "flags = [ true, false ];\n",
	  0, { NULL },
	  { { "tags", "[a,b]" },
	    { "tags/0", "a" },
	    { "numbers", "[1,2,3]" },
	    { "ips", "[10.0.0.1,::1]" },
	    { "counted", "[a,b]" },
	    { "flags", "[true,false]" } } },
	{ "list/integer-count-bounds-ok", list_fields, "ports = [ 80, 443 ];\n", 0, { NULL },
	  { { "ports", "[80,443]" } } },
	{ "list/integer-count-bounds-too-many", list_fields, "ports = [ 1, 2, 3, 4 ];\n", 0,
	  { "@FILE@:1: ports: must have between 1 and 3 elements, found 4" } },
	{ "list/element-type", list_fields, "numbers = ( 1, \"x\", 3 );\n", 0,
	  { "@FILE@:1: numbers[1]: expected an integer, found a string" } },
	{ "list/element-check", list_fields,
	  "ips = [\n  \"10.0.0.1\",\n  \"nope\" ];\nmodes = [ \"fast\", \"medium\" ];\n"
	  "flags = [ 1 ];\n",
	  0,
	  { "@FILE@:3: ips[1]: not an IPv4 or IPv6 address: \"nope\"",
	    "@FILE@:4: modes[1]: must be one of fast, slow; found \"medium\"",
	    "@FILE@:5: flags[0]: expected a boolean (true or false), found an integer" } },
	{ "list/non-empty", list_fields, "nonempty = [ ];\n", 0,
	  { "@FILE@:1: nonempty: must not be empty" } },
	/* The list's flags apply to its elements too. */
	{ "list/non-empty-elements", list_fields, "nonempty = [ \"a\", \"\" ];\n", 0,
	  { "@FILE@:1: nonempty[1]: must not be empty" } },
	{ "list/too-many", list_fields, "counted = [ \"a\", \"b\", \"c\" ];\n", 0,
	  { "@FILE@:1: counted: must have between 1 and 2 elements, found 3" } },
	{ "list/too-few", list_fields, "counted = [ ];\n", 0,
	  { "@FILE@:1: counted: must have between 1 and 2 elements, found 0" } },
	{ "list/not-a-list", list_fields, "tags = \"a\";\n", 0,
	  { "@FILE@:1: tags: expected a list [ ... ], found a string" } },
	/* enum */
	{ "enum/ok", enum_fields, "mode = \"fast\";\nlmode = \"SLOW\";\n", 0, { NULL },
	  { { "mode", "fast" }, { "lmode", "slow" } } },
	{ "enum/case-sensitive", enum_fields, "mode = \"FAST\";\n", 0,
	  { "@FILE@:1: mode: must be one of fast, slow; found \"FAST\"" } },
	{ "enum/not-a-choice", enum_fields, "lmode = \"Medium\";\n", 0,
	  { "@FILE@:1: lmode: must be one of fast, slow; found \"medium\"" } },
	{ "enum/wrong-type", enum_fields, "mode = 1;\n", 0,
	  { "@FILE@:1: mode: expected a string, found an integer" } },
	/* group */
	{ "group/ok", group_fields, "vm = {\n  label = \"x\";\n  verbose = true;\n};\n", 0,
	  { NULL }, { { "vm/label", "x" }, { "vm/memory", "512" }, { "vm/verbose", "true" } } },
	{ "group/unknown-key-suggestion", group_fields,
	  "vm = {\n  label = \"x\";\n  memroy = 5;\n};\n", 0,
	  { "@FILE@:3: vm.memroy: unknown key (did you mean \"memory\"?)" } },
	{ "group/unknown-key", group_fields, "vm = {\n  label = \"x\";\n  zzzzzz = 5;\n};\n", 0,
	  { "@FILE@:3: vm.zzzzzz: unknown key" } },
	{ "group/unknown-top-level-key", group_fields, "vn = { };\nvm = { label = \"x\"; };\n", 0,
	  { "@FILE@:1: vn: unknown key (did you mean \"vm\"?)" } },
	{ "group/required-child-missing", group_fields, "vm = {\n  memory = 5;\n};\n", 0,
	  { "@FILE@:1: vm.label: required key is missing" } },
	{ "group/all-errors-at-once", group_fields,
	  "vm = {\n  label = 5;\n  memory = 0;\n  verbose = \"x\";\n};\n", 0,
	  { "@FILE@:3: vm.memory: must be between 1 and 1024, found 0",
	    "@FILE@:2: vm.label: expected a string, found an integer",
	    "@FILE@:4: vm.verbose: expected a boolean (true or false), found a string" } },
	{ "group/not-a-group", group_fields, "vm = 5;\n", 0,
	  { "@FILE@:1: vm: expected a group { ... }, found an integer" } },
	/* group list */
	{ "group-list/ok", group_list_fields,
	  "machines = (\n  { name = \"win10\"; ip = \"10.0.0.2\"; },\n"
	  "  { name = \"win7\"; ip = \"10.0.0.3\"; cpus = 4; }\n);\n",
	  0, { NULL },
	  { { "machines/0/cpus", "1" },
	    { "machines/0/enabled", "true" },
	    { "machines/1/cpus", "4" } } },
	{ "group-list/named-element-path", group_list_fields,
	  "machines = (\n  { name = \"win10\";\n    ip = \"nope\";\n    cpus = 9;\n    cpu = 1; }\n);\n",
	  0,
	  { "@FILE@:5: machines.win10.cpu: unknown key (did you mean \"cpus\"?)",
	    "@FILE@:3: machines.win10.ip: not an IPv4 or IPv6 address: \"nope\"",
	    "@FILE@:4: machines.win10.cpus: must be between 1 and 8, found 9" } },
	{ "group-list/unnamed-element-path", group_list_fields,
	  "machines = (\n  { name = \"a\"; ip = \"10.0.0.1\"; },\n  { ip = \"10.0.0.2\"; }\n);\n", 0,
	  { "@FILE@:3: machines[1].name: required key is missing" } },
	{ "group-list/element-not-a-group", group_list_fields, "machines = ( 5 );\n", 0,
	  { "@FILE@:1: machines[0]: expected a group { ... }, found an integer" } },
	{ "group-list/disabled-element", group_list_fields,
	  "machines = (\n  { name = \"off\"; enabled = false; ip = \"bad\"; bogus = 1; }\n);\n", 0,
	  { NULL } },
	{ "group-list/not-a-list", group_list_fields, "machines = { };\n", 0,
	  { "@FILE@:1: machines: expected a list of groups ( { ... }, ... ), found a group" } },
	{ "group-list/empty", group_list_fields, "machines = [ ];\npairs = ( { name = \"p\"; "
	  "ip = \"::1\"; } );\n", 0, { NULL } },
	{ "group-list/non-empty", group_list_fields, "pools = ( );\n", 0,
	  { "@FILE@:1: pools: must not be empty" } },
	{ "group-list/count", group_list_fields,
	  "pairs = ( { name = \"a\"; ip = \"::1\"; }, { name = \"b\"; ip = \"::1\"; },\n"
	  "          { name = \"c\"; ip = \"::1\"; } );\n",
	  0, { "@FILE@:1: pairs: must have between 1 and 2 elements, found 3" } },
	/* enabled = false */
	{ "enabled/false-not-validated", enabled_fields,
	  "enabled = false;\nport = \"x\";\nbogus = 1;\n", 0, { NULL } },
	{ "enabled/true-validated", enabled_fields, "enabled = true;\nport = \"x\";\nbogus = 1;\n", 0,
	  { "@FILE@:3: bogus: unknown key", "@FILE@:2: port: expected an integer, found a string" } },
	{ "enabled/wrong-type-validated", enabled_fields, "enabled = 0;\nport = 80;\n", 0,
	  { "@FILE@:1: enabled: expected a boolean (true or false), found an integer" } },
	/* required */
	{ "required/missing", required_fields, "\n\nport = 80;\n", 0,
	  { "@FILE@: host: required key is missing" } },
	{ "required/all-missing", required_fields, "# nothing\n", 0,
	  { "@FILE@: port: required key is missing", "@FILE@: host: required key is missing" } },
	/* defaults */
	{ "defaults/filled", default_fields, "# all defaults\n", 0, { NULL },
	  { { "i", "10" },
	    { "b", "true" },
	    { "s", "hello" },
	    { "l", "[x,y]" },
	    { "empty", "[]" },
	    { "d", "@DIR@/subdir" },
	    { "e", "slow" },
	    { "optional", "(absent)" },
	    { "g/gi", "3" },
	    { "g/gs", "q" } } },
	{ "defaults/group-partly-written", default_fields,
	  "i = 11;\nb = false;\ns = \"X\";\nl = [ ];\ng = { gi = 4; };\n", 0, { NULL },
	  { { "i", "11" },
	    { "b", "false" },
	    { "s", "x" },
	    { "l", "[]" },
	    { "g/gi", "4" },
	    { "g/gs", "q" },
	    { "g/gopt", "(absent)" } } },
};

/* ---- validation helpers -------------------------------------------------- */

typedef struct {
	char *dir;
	char *file;
	char *long107;
	char *long108;
	char *huge;
	char *huge256;
	char *uid;
} Env;

static char *
substitute(const Env *env, const char *text)
{
	GString *out = g_string_new(text);

	g_string_replace(out, "@FILE@", env->file, 0);
	g_string_replace(out, "@DIR@", env->dir, 0);
	g_string_replace(out, "@LONG107@", env->long107, 0);
	g_string_replace(out, "@LONG108@", env->long108, 0);
	g_string_replace(out, "@HUGE256@", env->huge256, 0);
	g_string_replace(out, "@HUGE@", env->huge, 0);
	g_string_replace(out, "@UID@", env->uid, 0);
	return g_string_free(out, FALSE);
}

static void
make_socket(const char *path)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(strlen(path), <, sizeof address.sun_path);
	g_strlcpy(address.sun_path, path, sizeof address.sun_path);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&address, sizeof address), ==, 0);
	close(fd);
}

static void
env_init(Env *env)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;

	env->dir = g_dir_make_tmp("nbx-schema-XXXXXX", &error);
	g_assert_no_error(error);
	env->file = g_build_filename(env->dir, "test.conf", NULL);
	env->long107 = g_strnfill(107, 'a');
	env->long107[0] = '/';
	env->long108 = g_strnfill(108, 'a');
	env->long108[0] = '/';
	env->uid = g_strdup_printf("%u", (unsigned)geteuid());
	env->huge = g_strnfill(100000, 'x');
	env->huge256 = g_strnfill(256, 'x');

	path = g_build_filename(env->dir, "file.txt", NULL);
	g_file_set_contents(path, "x\n", -1, &error);
	g_assert_no_error(error);
	g_chmod(path, 0644);
	g_free(path);
	path = g_build_filename(env->dir, "script.sh", NULL);
	g_file_set_contents(path, "#!/bin/sh\n", -1, &error);
	g_assert_no_error(error);
	g_chmod(path, 0755);
	g_free(path);
	path = g_build_filename(env->dir, "secret", NULL);
	g_file_set_contents(path, "x\n", -1, &error);
	g_assert_no_error(error);
	g_chmod(path, 0);
	g_free(path);
	path = g_build_filename(env->dir, "subdir", NULL);
	g_assert_cmpint(g_mkdir(path, 0755), ==, 0);
	g_free(path);
	path = g_build_filename(env->dir, "closed", NULL);
	g_assert_cmpint(g_mkdir(path, 0500), ==, 0);
	g_free(path);
	path = g_build_filename(env->dir, "sock", NULL);
	make_socket(path);
}

static void
env_clear(Env *env)
{
	static const char *const entries[] = { "test.conf", "file.txt", "script.sh", "secret",
					       "subdir",    "closed",   "sock",	     NULL };

	for (guint i = 0; entries[i] != NULL; i++) {
		g_autofree char *path = g_build_filename(env->dir, entries[i], NULL);

		g_remove(path);
	}
	g_rmdir(env->dir);
	g_free(env->dir);
	g_free(env->file);
	g_free(env->long107);
	g_free(env->long108);
	g_free(env->huge);
	g_free(env->huge256);
	g_free(env->uid);
}

/* The setting at "a/b/0/c" (numbers index lists), or NULL. */
static config_setting_t *
lookup_path(config_t *config, const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	config_setting_t *setting = config_root_setting(config);

	for (guint i = 0; parts[i] != NULL && setting != NULL; i++) {
		if (g_ascii_isdigit(parts[i][0]))
			setting = config_setting_get_elem(setting, atoi(parts[i]));
		else
			setting = config_setting_get_member(setting, parts[i]);
	}
	return setting;
}

static char *
render(const config_setting_t *setting)
{
	GString *out;

	if (setting == NULL)
		return g_strdup("(absent)");
	switch (config_setting_type(setting)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return g_strdup_printf("%lld", (long long)config_setting_get_int64(setting));
	case CONFIG_TYPE_BOOL:
		return g_strdup(config_setting_get_bool(setting) ? "true" : "false");
	case CONFIG_TYPE_STRING:
		return g_strdup(config_setting_get_string(setting));
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		out = g_string_new("[");
		for (int i = 0; i < config_setting_length(setting); i++) {
			g_autofree char *element = render(config_setting_get_elem(setting, i));

			g_string_append_printf(out, "%s%s", i > 0 ? "," : "", element);
		}
		g_string_append_c(out, ']');
		return g_string_free(out, FALSE);
	case CONFIG_TYPE_GROUP:
		return g_strdup("{group}");
	default:
		return g_strdup("(other)");
	}
}

static void
dump(const NbxDiagnostics *diagnostics)
{
	for (guint i = 0; i < nbx_diagnostics_count(diagnostics); i++)
		g_test_message("diagnostic: %s", nbx_diagnostics_get(diagnostics, i));
}

static void
test_validate(gconstpointer data)
{
	const ValidateCase *c = data;
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(NbxSchema) schema = nbx_schema_new_static(c->fields);
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	NbxValidation validation = { .diagnostics = diagnostics };
	guint expected = 0;
	gboolean ok;
	config_t config;
	Env env = { 0 };

	if ((c->flags & NON_ROOT) && geteuid() == 0) {
		g_test_skip("root passes every access() check");
		return;
	}
	env_init(&env);
	validation.base_dir = env.dir;
	validation.check_environment = !(c->flags & SYNTAX_ONLY);
	text = substitute(&env, c->text);
	g_file_set_contents(env.file, text, -1, &error);
	g_assert_no_error(error);

	/* Read the way nestboxd reads: config_source keeps integers in 64 bits. */
	config_init(&config);
	if (!nbx_config_source_read_file(&config, env.file, diagnostics))
		g_error("%s", nbx_diagnostics_get(diagnostics, 0));
	ok = nbx_schema_validate_group(schema, config_root_setting(&config), NULL, &validation);
	dump(diagnostics);

	while (expected < G_N_ELEMENTS(c->diagnostics) && c->diagnostics[expected] != NULL) {
		g_autofree char *want = substitute(&env, c->diagnostics[expected]);

		g_assert_cmpuint(nbx_diagnostics_count(diagnostics), >, expected);
		g_assert_cmpstr(nbx_diagnostics_get(diagnostics, expected), ==, want);
		expected++;
	}
	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, expected);
	g_assert_cmpint(ok, ==, expected == 0);

	for (guint i = 0; i < G_N_ELEMENTS(c->values) && c->values[i].path != NULL; i++) {
		g_autofree char *want = substitute(&env, c->values[i].value);
		g_autofree char *got = render(lookup_path(&config, c->values[i].path));

		g_test_message("%s = %s", c->values[i].path, got);
		g_assert_cmpstr(got, ==, want);
	}
	config_destroy(&config);
	env_clear(&env);
}

/* Validating twice changes nothing: normalised values stay valid. */
static void
test_validate_idempotent(void)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(NbxSchema) schema = nbx_schema_new_static(default_fields);
	NbxValidation validation = { .diagnostics = diagnostics, .base_dir = "/srv",
				     .check_environment = FALSE };
	config_t config;

	config_init(&config);
	g_assert_true(config_read_string(&config, "s = \"ABC\";\nd = \"rel\";\n"));
	g_assert_true(nbx_schema_validate_group(schema, config_root_setting(&config), NULL,
						&validation));
	g_assert_true(nbx_schema_validate_group(schema, config_root_setting(&config), NULL,
						&validation));
	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 0);
	g_assert_cmpstr(config_setting_get_string(lookup_path(&config, "s")), ==, "abc");
	g_assert_cmpstr(config_setting_get_string(lookup_path(&config, "d")), ==, "/srv/rel");
	config_destroy(&config);
}

/* A key prefix (a plugin's section) is put in front of every key path. */
static void
test_validate_key_prefix(void)
{
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	g_autoptr(NbxSchema) schema = nbx_schema_new_static(group_fields);
	NbxValidation validation = { .diagnostics = diagnostics, .check_environment = FALSE };
	config_t config;

	config_init(&config);
	g_assert_true(config_read_string(&config, "qemu = { vm = { memory = 0; }; };\n"));
	g_assert_false(nbx_schema_validate_group(schema, config_lookup(&config, "qemu"), "qemu",
						 &validation));
	dump(diagnostics);
	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 2);
	g_assert_true(nbx_diagnostics_contains(diagnostics, "qemu.vm.memory: must be between"));
	g_assert_true(nbx_diagnostics_contains(diagnostics, "qemu.vm.label: required key is missing"));
	config_destroy(&config);
}

/* ---- nbx_schema_import ---------------------------------------------------- */

static const struct nbx_config_field ok_child[] = {
	{ .name = "x", .type = NBX_FIELD_STRING, DOC },
	{ 0 },
};
static const struct nbx_config_field bad_child[] = {
	{ .name = "x", .type = NBX_FIELD_STRING, DOC },
	{ .name = "bad", .type = NBX_FIELD_INTEGER, .min = 5, .max = 1, DOC },
	{ 0 },
};
static const char *const no_choices[] = { NULL };
static const struct nbx_config_field empty_children[] = { { 0 } };

#define FIRST { .name = "first", .type = NBX_FIELD_STRING, DOC }

typedef struct {
	const char *name;
	/* The second field of a table "first", FIELD (the first is always fine). */
	struct nbx_config_field field;
	/* Exact message, or its beginning when it ends in "..." */
	const char *message;
} ImportCase;

static const ImportCase import_cases[] = {
	{ "bad-name-upper", { .name = "Port", .type = NBX_FIELD_INTEGER, DOC },
	  "malformed schema: fields[1] \"Port\": name must match [a-z][a-z0-9_]* (at most 63 bytes)" },
	{ "bad-name-digit", { .name = "1port", .type = NBX_FIELD_INTEGER, DOC },
	  "malformed schema: fields[1] \"1port\": name must match [a-z][a-z0-9_]* (at most 63 bytes)" },
	{ "bad-name-dash", { .name = "my-port", .type = NBX_FIELD_INTEGER, DOC },
	  "malformed schema: fields[1] \"my-port\": name must match [a-z][a-z0-9_]* (at most 63 "
	  "bytes)" },
	{ "bad-name-empty", { .name = "", .type = NBX_FIELD_INTEGER, DOC },
	  "malformed schema: fields[1] \"\": name must match [a-z][a-z0-9_]* (at most 63 bytes)" },
	{ "bad-name-too-long",
	  { .name = "a234567890123456789012345678901234567890123456789012345678901234",
	    .type = NBX_FIELD_INTEGER, DOC },
	  "malformed schema: fields[1] "
	  "\"a234567890123456789012345678901234567890123456789012345678901234\": name must match "
	  "..." },
	{ "null-name", { .type = NBX_FIELD_INTEGER, DOC },
	  "malformed schema: fields[1] \"(null)\": name must match ..." },
	{ "reserved-enabled", { .name = "enabled", .type = NBX_FIELD_BOOLEAN, DOC },
	  "malformed schema: fields[1] \"enabled\": key is reserved for the core" },
	{ "reserved-machines", { .name = "machines", .type = NBX_FIELD_STRING, DOC },
	  "malformed schema: fields[1] \"machines\": key is reserved for the core" },
	{ "type-missing", { .name = "port", DOC },
	  "malformed schema: fields[1] \"port\": type is missing (0 ends the table)" },
	{ "unknown-type", { .name = "port", .type = 99, DOC },
	  "malformed schema: fields[1] \"port\": unknown type 99 (this core knows types up to 13)" },
	{ "doc-missing", { .name = "port", .type = NBX_FIELD_INTEGER },
	  "malformed schema: fields[1] \"port\": doc is missing (every setting needs a one-line "
	  "description)" },
	{ "doc-empty", { .name = "port", .type = NBX_FIELD_INTEGER, .doc = "" },
	  "malformed schema: fields[1] \"port\": doc is missing ..." },
	{ "unknown-flag-bits", { .name = "port", .type = NBX_FIELD_INTEGER, .flags = 0x100, DOC },
	  "malformed schema: fields[1] \"port\": unknown flag bits 0x100" },
	{ "flag-not-for-integer",
	  { .name = "port", .type = NBX_FIELD_INTEGER, .flags = NBX_FIELD_LOWERCASE, DOC },
	  "malformed schema: fields[1] \"port\": flags 0x2 do not apply to ..." },
	{ "flag-not-for-boolean",
	  { .name = "port", .type = NBX_FIELD_BOOLEAN, .flags = NBX_FIELD_MUST_EXIST, DOC },
	  "malformed schema: fields[1] \"port\": flags 0x4 do not apply to ..." },
	{ "flag-not-for-socket",
	  { .name = "port", .type = NBX_FIELD_UNIX_SOCKET, .flags = NBX_FIELD_WRITABLE, DOC },
	  "malformed schema: fields[1] \"port\": flags 0x10 do not apply to ..." },
	{ "flag-not-for-enum",
	  { .name = "port", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_NON_EMPTY, .choices = speeds,
	    DOC },
	  "malformed schema: fields[1] \"port\": flags 0x80 do not apply to ..." },
	{ "flag-not-for-group",
	  { .name = "port", .type = NBX_FIELD_GROUP, .flags = NBX_FIELD_NON_EMPTY,
	    .children = ok_child, DOC },
	  "malformed schema: fields[1] \"port\": flags 0x80 do not apply to ..." },
	{ "flag-not-for-list-elements",
	  { .name = "port", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_INTEGER,
	    .flags = NBX_FIELD_LOWERCASE, DOC },
	  "malformed schema: fields[1] \"port\": flags 0x2 do not apply to elements of type "
	  "integer" },
	{ "required-with-default",
	  { .name = "port", .type = NBX_FIELD_INTEGER, .flags = NBX_FIELD_REQUIRED,
	    .default_value = "1", DOC },
	  "malformed schema: fields[1] \"port\": a required key cannot have a default" },
	{ "min-greater-than-max", { .name = "port", .type = NBX_FIELD_INTEGER, .min = 10, .max = 1,
				    DOC },
	  "malformed schema: fields[1] \"port\": min 10 is greater than max 1" },
	{ "list-min-greater-than-max",
	  { .name = "port", .type = NBX_FIELD_LIST, .min = 3, .max = 2, DOC },
	  "malformed schema: fields[1] \"port\": min 3 is greater than max 2" },
	{ "enum-null-choices", { .name = "port", .type = NBX_FIELD_ENUM, DOC },
	  "malformed schema: fields[1] \"port\": an enum needs at least one choice" },
	{ "enum-empty-choices", { .name = "port", .type = NBX_FIELD_ENUM, .choices = no_choices, DOC },
	  "malformed schema: fields[1] \"port\": an enum needs at least one choice" },
	{ "list-of-enum-without-choices",
	  { .name = "port", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_ENUM, DOC },
	  "malformed schema: fields[1] \"port\": a list of enum needs at least one choice" },
	{ "list-of-groups",
	  { .name = "port", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_GROUP, DOC },
	  "malformed schema: fields[1] \"port\": element_type must be a scalar type, not group" },
	{ "list-of-lists",
	  { .name = "port", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_LIST, DOC },
	  "malformed schema: fields[1] \"port\": element_type must be a scalar type, not list" },
	{ "list-of-unknown", { .name = "port", .type = NBX_FIELD_LIST, .element_type = 42, DOC },
	  "malformed schema: fields[1] \"port\": element_type must be a scalar type, not unknown "
	  "type" },
	{ "group-without-children", { .name = "port", .type = NBX_FIELD_GROUP, DOC },
	  "malformed schema: fields[1] \"port\": a group needs at least one child field" },
	{ "group-with-empty-children",
	  { .name = "port", .type = NBX_FIELD_GROUP, .children = empty_children, DOC },
	  "malformed schema: fields[1] \"port\": a group needs at least one child field" },
	{ "group-list-without-children", { .name = "port", .type = NBX_FIELD_GROUP_LIST, DOC },
	  "malformed schema: fields[1] \"port\": a list of groups needs at least one child field" },
	{ "group-with-default",
	  { .name = "port", .type = NBX_FIELD_GROUP, .children = ok_child, .default_value = "{}",
	    DOC },
	  "malformed schema: fields[1] \"port\": a group cannot have a default" },
	{ "bad-child",
	  { .name = "port", .type = NBX_FIELD_GROUP_LIST, .children = bad_child, DOC },
	  "malformed schema: fields[1] \"port\".children[1] \"bad\": min 5 is greater than max 1" },
	{ "default-not-an-integer",
	  { .name = "port", .type = NBX_FIELD_INTEGER, .default_value = "abc", DOC },
	  "malformed schema: fields[1] \"port\": default \"abc\" is not valid: not an integer: ..." },
	{ "default-out-of-bounds",
	  { .name = "port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535,
	    .default_value = "0", DOC },
	  "malformed schema: fields[1] \"port\": default \"0\" is not valid: (default): port: must "
	  "be between 1 and 65535, found 0" },
	{ "default-not-a-choice",
	  { .name = "port", .type = NBX_FIELD_ENUM, .choices = speeds, .default_value = "huge", DOC },
	  "malformed schema: fields[1] \"port\": default \"huge\" is not valid: (default): port: "
	  "must be one of fast, slow; found \"huge\"" },
	{ "default-not-a-boolean",
	  { .name = "port", .type = NBX_FIELD_BOOLEAN, .default_value = "yes", DOC },
	  "malformed schema: fields[1] \"port\": default \"yes\" is not valid: not true or false" },
	{ "default-not-a-list",
	  { .name = "port", .type = NBX_FIELD_LIST, .default_value = "\"a\"", DOC },
	  "malformed schema: fields[1] \"port\": default \"\"a\"\" is not valid: not a list [ ... ]" },
	{ "default-list-element",
	  { .name = "port", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_INTEGER,
	    .default_value = "[ \"a\" ]", DOC },
	  "malformed schema: fields[1] \"port\": default \"[ \"a\" ]\" is not valid: (default): "
	  "port[0]: expected an integer, found a string" },
	{ "default-list-too-short",
	  { .name = "port", .type = NBX_FIELD_LIST, .flags = NBX_FIELD_NON_EMPTY,
	    .default_value = "[ ]", DOC },
	  "malformed schema: fields[1] \"port\": default \"[ ]\" is not valid: (default): port: "
	  "must not be empty" },
	{ "default-bad-mac",
	  { .name = "port", .type = NBX_FIELD_MAC_ADDRESS, .default_value = "zz", DOC },
	  "malformed schema: fields[1] \"port\": default \"zz\" is not valid: (default): port: not "
	  "a MAC address (expected aa:bb:cc:dd:ee:ff): \"zz\"" },
	{ "duplicate-name", { .name = "first", .type = NBX_FIELD_INTEGER, DOC },
	  "malformed schema: fields[1] \"first\": name declared twice" },
};

static void
assert_message(const GError *error, const char *message)
{
	gsize n = strlen(message);

	g_assert_nonnull(error);
	g_test_message("error: %s", error->message);
	g_assert_true(g_error_matches(error, NBX_SCHEMA_ERROR, 0));
	if (n > 3 && strcmp(message + n - 3, "...") == 0) {
		if (strncmp(error->message, message, n - 3) != 0)
			g_assert_cmpstr(error->message, ==, message);
	} else {
		g_assert_cmpstr(error->message, ==, message);
	}
}

static void
test_import_malformed(gconstpointer data)
{
	const ImportCase *c = data;
	struct nbx_config_field fields[] = { FIRST, c->field, { 0 } };
	struct nbx_config_schema schema = {
		.struct_size = sizeof schema,
		.field_size = sizeof(struct nbx_config_field),
		.fields = fields,
	};
	g_autoptr(GError) error = NULL;
	NbxSchema *imported = nbx_schema_import(&schema, nbx_reserved_plugin_keys, &error);

	g_assert_null(imported);
	assert_message(error, c->message);
}

static const struct nbx_config_field good_fields[] = {
	{ .name = "port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535, .default_value = "80",
	  DOC },
	{ .name = "tags", .type = NBX_FIELD_LIST, .default_value = "[ \"A\" ]",
	  .flags = NBX_FIELD_LOWERCASE, DOC },
	{ .name = "mode", .type = NBX_FIELD_ENUM, .flags = NBX_FIELD_LOWERCASE, .choices = speeds,
	  .default_value = "FAST", DOC },
	{ .name = "dir", .type = NBX_FIELD_DIRECTORY, .flags = NBX_FIELD_MUST_EXIST,
	  .default_value = "/nonexistent/is/fine/at/load", DOC },
	{ .name = "vm", .type = NBX_FIELD_GROUP, .children = vm_children, DOC },
	{ .name = "hosts", .type = NBX_FIELD_GROUP_LIST, .children = machine_children, DOC },
	{ 0 },
};

/* A well-formed table imports; list element_type 0 becomes STRING. */
static void
test_import_good(void)
{
	struct nbx_config_schema schema = {
		.struct_size = sizeof schema,
		.field_size = sizeof(struct nbx_config_field),
		.fields = good_fields,
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxSchema) imported = nbx_schema_import(&schema, nbx_reserved_plugin_keys, &error);
	const struct nbx_config_field *f;

	g_assert_no_error(error);
	g_assert_nonnull(imported);
	f = nbx_schema_lookup(imported, "tags");
	g_assert_nonnull(f);
	g_assert_cmpuint(f->element_type, ==, NBX_FIELD_STRING);
	f = nbx_schema_lookup(imported, "vm");
	g_assert_nonnull(f);
	g_assert_cmpstr(f->children[1].name, ==, "label");
	g_assert_cmpuint(f->children[3].type, ==, NBX_FIELD_END);
	g_assert_null(nbx_schema_lookup(imported, "nope"));
	/* Reserved keys are the top level's only: a child may be called "enabled". */
	f = nbx_schema_lookup(imported, "hosts");
	g_assert_cmpstr(f->children[2].name, ==, "enabled");
}

static void
import_sizes(guint32 struct_size, guint32 field_size, const struct nbx_config_field *fields,
	     const char *message)
{
	struct nbx_config_schema schema = {
		.struct_size = struct_size,
		.field_size = field_size,
		.fields = fields,
	};
	g_autoptr(GError) error = NULL;

	g_assert_null(nbx_schema_import(&schema, NULL, &error));
	assert_message(error, message);
}

#define FIELD_SIZE_1_0 (offsetof(struct nbx_config_field, element_type) + sizeof(uint32_t))

static void
test_import_sizes(void)
{
	g_autofree char *too_small = g_strdup_printf(
		"malformed schema: field_size 8 is not between %zu and %zu", (size_t)FIELD_SIZE_1_0,
		sizeof(struct nbx_config_field));
	g_autofree char *smaller = g_strdup_printf(
		"malformed schema: field_size %zu is not between %zu and %zu", FIELD_SIZE_1_0 - 1,
		(size_t)FIELD_SIZE_1_0, sizeof(struct nbx_config_field));
	g_autofree char *larger = g_strdup_printf(
		"malformed schema: field_size %zu is not between %zu and %zu",
		sizeof(struct nbx_config_field) + 8, (size_t)FIELD_SIZE_1_0,
		sizeof(struct nbx_config_field));
	g_autofree char *schema_small = g_strdup_printf(
		"malformed schema: struct_size 8 is smaller than %zu",
		offsetof(struct nbx_config_schema, fields) + sizeof(void *));

	import_sizes(sizeof(struct nbx_config_schema), 8, good_fields, too_small);
	import_sizes(sizeof(struct nbx_config_schema), FIELD_SIZE_1_0 - 1, good_fields, smaller);
	import_sizes(sizeof(struct nbx_config_schema), sizeof(struct nbx_config_field) + 8,
		     good_fields, larger);
	import_sizes(8, sizeof(struct nbx_config_field), good_fields, schema_small);
	import_sizes(sizeof(struct nbx_config_schema), sizeof(struct nbx_config_field), NULL,
		     "malformed schema: fields is NULL");
}

/* Lays @n fields (plus a terminator) out with @stride, as a plugin built with it would. */
static guint8 *
pack(const struct nbx_config_field *fields, guint n, gsize stride)
{
	guint8 *buffer = g_malloc0((n + 1) * stride + sizeof(struct nbx_config_field));

	for (guint i = 0; i < n; i++)
		memcpy(buffer + i * stride, &fields[i], MIN(stride, sizeof fields[i]));
	return buffer;
}

/*
 * A plugin built against v1.0 walks its table (and its children tables) with
 * the v1.0 stride, which is smaller than this core's padded struct: the core
 * must use the plugin's stride, not its own sizeof.
 */
static void
test_import_smaller_stride(void)
{
	const gsize stride = FIELD_SIZE_1_0;
	struct nbx_config_field children[] = {
		{ .name = "cpu", .type = NBX_FIELD_INTEGER, .min = 1, .max = 4, .default_value = "2",
		  DOC },
		{ .name = "label", .type = NBX_FIELD_STRING, .flags = NBX_FIELD_LOWERCASE, DOC },
	};
	g_autofree guint8 *child_table = pack(children, G_N_ELEMENTS(children), stride);
	struct nbx_config_field fields[] = {
		{ .name = "port", .type = NBX_FIELD_INTEGER, .min = 1, .max = 65535,
		  .default_value = "80", DOC },
		{ .name = "ips", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_IP_ADDRESS,
		  .default_value = "[ \"::1\" ]", DOC },
		{ .name = "vm", .type = NBX_FIELD_GROUP,
		  .children = (const struct nbx_config_field *)child_table, DOC },
		{ .name = "mode", .type = NBX_FIELD_ENUM, .choices = speeds, .default_value = "slow",
		  DOC },
	};
	g_autofree guint8 *table = pack(fields, G_N_ELEMENTS(fields), stride);
	struct nbx_config_schema schema = {
		.struct_size = sizeof schema,
		.field_size = stride,
		.fields = (const struct nbx_config_field *)table,
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxSchema) imported = NULL;
	g_autoptr(NbxDiagnostics) diagnostics = nbx_diagnostics_new();
	NbxValidation validation = { .diagnostics = diagnostics, .check_environment = FALSE };
	const struct nbx_config_field *f;
	config_t config;

	if (stride == sizeof(struct nbx_config_field)) {
		g_test_skip("this ABI has no padding after element_type");
		return;
	}
	imported = nbx_schema_import(&schema, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(imported);
	f = nbx_schema_lookup(imported, "ips");
	g_assert_nonnull(f);
	g_assert_cmpuint(f->element_type, ==, NBX_FIELD_IP_ADDRESS);
	f = nbx_schema_lookup(imported, "vm");
	g_assert_nonnull(f);
	g_assert_cmpstr(f->children[1].name, ==, "label");
	g_assert_cmpuint(f->children[2].type, ==, NBX_FIELD_END);
	g_assert_nonnull(nbx_schema_lookup(imported, "mode"));

	config_init(&config);
	g_assert_true(config_read_string(&config, "vm = { label = \"BIG\"; };\nips = [ \"nope\" ];\n"));
	g_assert_false(nbx_schema_validate_group(imported, config_root_setting(&config), NULL,
						 &validation));
	dump(diagnostics);
	g_assert_cmpuint(nbx_diagnostics_count(diagnostics), ==, 1);
	g_assert_true(nbx_diagnostics_contains(diagnostics,
					       "ips[0]: not an IPv4 or IPv6 address: \"nope\""));
	g_assert_cmpint(config_setting_get_int64(lookup_path(&config, "port")), ==, 80);
	g_assert_cmpint(config_setting_get_int64(lookup_path(&config, "vm/cpu")), ==, 2);
	g_assert_cmpstr(config_setting_get_string(lookup_path(&config, "vm/label")), ==, "big");
	g_assert_cmpstr(config_setting_get_string(lookup_path(&config, "mode")), ==, "slow");
	config_destroy(&config);

	/* The same bytes walked with a stride the core rejects: refused, not misread. */
	schema.field_size = stride - 4;
	g_clear_error(&error);
	g_assert_null(nbx_schema_import(&schema, NULL, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "field_size"));
}

/* An error in a smaller-stride table still names the right field. */
static void
test_import_smaller_stride_error(void)
{
	const gsize stride = FIELD_SIZE_1_0;
	struct nbx_config_field fields[] = {
		{ .name = "a", .type = NBX_FIELD_STRING, DOC },
		{ .name = "b", .type = NBX_FIELD_STRING, DOC },
		{ .name = "port", .type = NBX_FIELD_INTEGER, .min = 9, .max = 1, DOC },
	};
	g_autofree guint8 *table = pack(fields, G_N_ELEMENTS(fields), stride);
	struct nbx_config_schema schema = {
		.struct_size = sizeof schema,
		.field_size = stride,
		.fields = (const struct nbx_config_field *)table,
	};
	g_autoptr(GError) error = NULL;

	g_assert_null(nbx_schema_import(&schema, NULL, &error));
	assert_message(error, "malformed schema: fields[2] \"port\": min 9 is greater than max 1");
}

/* Without a reserved list, a reserved name is an ordinary key. */
static void
test_import_reserved_only_when_asked(void)
{
	static const struct nbx_config_field fields[] = {
		{ .name = "enabled", .type = NBX_FIELD_BOOLEAN, .default_value = "true", DOC },
		{ 0 },
	};
	struct nbx_config_schema schema = {
		.struct_size = sizeof schema,
		.field_size = sizeof(struct nbx_config_field),
		.fields = fields,
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxSchema) imported = nbx_schema_import(&schema, NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(imported);
	g_clear_pointer(&imported, nbx_schema_free);
	g_assert_null(nbx_schema_import(&schema, nbx_reserved_machine_keys, &error));
	assert_message(error, "malformed schema: fields[0] \"enabled\": key is reserved for the core");
}

/* The core's own tables pass the same checks a plugin's do. */
/* A list default with a count bound: its values are not held to the bound. */
static void
test_import_list_default_with_count(void)
{
	static const struct nbx_config_field fields[] = {
		{ .name = "p", .type = NBX_FIELD_LIST, .element_type = NBX_FIELD_INTEGER, .min = 1,
		  .max = 2, .default_value = "[ 80 ]", DOC },
		{ 0 },
	};
	struct nbx_config_schema schema = { .struct_size = sizeof schema,
					    .field_size = sizeof(struct nbx_config_field),
					    .fields = fields };
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxSchema) imported = nbx_schema_import(&schema, NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(imported);
}

static void
test_import_core_tables(void)
{
	const struct nbx_config_field *tables[] = { nbx_core_fields, nbx_core_machine_fields,
						    nbx_core_auxiliary_fields };

	for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
		struct nbx_config_schema schema = {
			.struct_size = sizeof schema,
			.field_size = sizeof(struct nbx_config_field),
			.fields = tables[i],
		};
		g_autoptr(GError) error = NULL;
		g_autoptr(NbxSchema) imported = nbx_schema_import(&schema, NULL, &error);

		g_assert_no_error(error);
		g_assert_nonnull(imported);
	}
}

static void
test_key_paths(void)
{
	g_autofree char *a = nbx_key_path(NULL, "port");
	g_autofree char *b = nbx_key_path("", "port");
	g_autofree char *c = nbx_key_path("qemu", "port");
	g_autofree char *d = nbx_key_path("machines", "[2]");

	g_assert_cmpstr(a, ==, "port");
	g_assert_cmpstr(b, ==, "port");
	g_assert_cmpstr(c, ==, "qemu.port");
	g_assert_cmpstr(d, ==, "machines[2]");
	g_assert_cmpstr(nbx_field_type_name(NBX_FIELD_UNIX_SOCKET), ==, "unix socket path");
	g_assert_cmpstr(nbx_field_type_name(1000), ==, "unknown type");
}

static void
test_setting_key_path(void)
{
	config_t config;
	config_setting_t *machines;

	config_init(&config);
	g_assert_true(config_read_string(
		&config, "qemu = { machines = ( { name = \"win10\"; ip = \"x\"; }, { ip = \"y\"; } ); };"));
	machines = config_lookup(&config, "qemu.machines");
	g_assert_nonnull(machines);
	{
		g_autofree char *named = nbx_setting_key_path(config_setting_get_elem(machines, 0),
							      "ip");
		g_autofree char *unnamed =
			nbx_setting_key_path(config_setting_get_elem(machines, 1), "ip");
		g_autofree char *list = nbx_setting_key_path(machines, NULL);

		g_assert_cmpstr(named, ==, "qemu.machines.win10.ip");
		g_assert_cmpstr(unnamed, ==, "qemu.machines[1].ip");
		g_assert_cmpstr(list, ==, "qemu.machines");
	}
	config_destroy(&config);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	for (guint i = 0; i < G_N_ELEMENTS(validate_cases); i++) {
		g_autofree char *path = g_strdup_printf("/schema/validate/%s", validate_cases[i].name);

		g_test_add_data_func(path, &validate_cases[i], test_validate);
	}
	g_test_add_func("/schema/validate/idempotent", test_validate_idempotent);
	g_test_add_func("/schema/validate/key-prefix", test_validate_key_prefix);
	for (guint i = 0; i < G_N_ELEMENTS(import_cases); i++) {
		g_autofree char *path = g_strdup_printf("/schema/import/malformed/%s",
							import_cases[i].name);

		g_test_add_data_func(path, &import_cases[i], test_import_malformed);
	}
	g_test_add_func("/schema/import/good", test_import_good);
	g_test_add_func("/schema/import/sizes", test_import_sizes);
	g_test_add_func("/schema/import/smaller-stride", test_import_smaller_stride);
	g_test_add_func("/schema/import/smaller-stride-error", test_import_smaller_stride_error);
	g_test_add_func("/schema/import/reserved-only-when-asked",
			test_import_reserved_only_when_asked);
	g_test_add_func("/schema/import/core-tables", test_import_core_tables);
	g_test_add_func("/schema/import/list-default-with-count", test_import_list_default_with_count);
	g_test_add_func("/schema/key-path", test_key_paths);
	g_test_add_func("/schema/setting-key-path", test_setting_key_path);
	return g_test_run();
}
