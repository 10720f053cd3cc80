/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "field_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_source.h"
#include "setting_names.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

void
nbx_field_report(const NbxValidation *validation, const config_setting_t *setting, const char *key_path,
       const char *format, ...)
{
	g_autofree char *location = nbx_setting_location(setting);
	va_list args;

	va_start(args, format);
	nbx_diagnostics_addv(validation->diagnostics, location, key_path, format, args);
	va_end(args);
}

static const char *
libconfig_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

gboolean
nbx_field_expect_type(const NbxValidation *validation, const config_setting_t *setting,
	    const char *key_path, const char *expected, gboolean ok)
{
	if (!ok)
		nbx_field_report(validation, setting, key_path, "expected %s, found %s", expected,
		       libconfig_type_name(config_setting_type(setting)));
	return ok;
}

/* ---- paths -------------------------------------------------------------- */

static void
make_absolute(config_setting_t *setting, const NbxValidation *validation)
{
	const char *value = config_setting_get_string(setting);

	if (validation->base_dir != NULL && value[0] != '\0' && !g_path_is_absolute(value)) {
		g_autofree char *absolute = g_build_filename(validation->base_dir, value, NULL);

		config_setting_set_string(setting, absolute);
	}
}

static gboolean
check_access(const NbxValidation *validation, const config_setting_t *setting,
	     const char *key_path, const char *path, guint32 flags)
{
	static const struct {
		guint32 flag;
		int mode;
		const char *what;
	} rights[] = {
		{ NBX_FIELD_READABLE, R_OK, "readable" },
		{ NBX_FIELD_WRITABLE, W_OK, "writable" },
		{ NBX_FIELD_EXECUTABLE, X_OK, "executable" },
	};
	g_autofree char *shown = nbx_diagnostics_shorten(path);
	gboolean ok = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(rights); i++) {
		if ((flags & rights[i].flag) && access(path, rights[i].mode) != 0) {
			nbx_field_report(validation, setting, key_path, "not %s by uid %u: %s (%s)",
			       rights[i].what, (unsigned)geteuid(), shown, g_strerror(errno));
			ok = FALSE;
		}
	}
	return ok;
}

static gboolean
check_socket_path(const struct nbx_config_field *field, config_setting_t *setting,
		  const char *key_path, const NbxValidation *validation)
{
	const char *path = config_setting_get_string(setting);
	g_autofree char *shown = nbx_diagnostics_shorten(path);
	g_autofree char *dir = NULL;

	if (strlen(path) > SUN_PATH_MAX) {
		nbx_field_report(validation, setting, key_path,
		       "socket path is %zu bytes, longer than the %zu a UNIX socket allows: %s",
		       strlen(path), SUN_PATH_MAX, shown);
		return FALSE;
	}
	if (!validation->check_environment || (field->flags & NBX_FIELD_MUST_EXIST) ||
	    g_file_test(path, G_FILE_TEST_EXISTS))
		return TRUE;
	/* A socket the program will create: its directory must take it. */
	dir = g_path_get_dirname(path);
	if (access(dir, W_OK | X_OK) != 0) {
		g_autofree char *shown_dir = nbx_diagnostics_shorten(dir);

		nbx_field_report(validation, setting, key_path,
		       "directory of the socket is missing or not writable: %s (%s)", shown_dir,
		       g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static const char *
path_kind(guint32 type)
{
	switch (type) {
	case NBX_FIELD_DIRECTORY:
		return "directory";
	case NBX_FIELD_UNIX_SOCKET:
		return "socket";
	default:
		return "file";
	}
}

/* An existing path of the right kind, with the rights the field asks for. */
static gboolean
check_existing_path(const struct nbx_config_field *field, guint32 type, config_setting_t *setting,
		    const char *key_path, const NbxValidation *validation)
{
	guint32 rights = NBX_FIELD_READABLE | NBX_FIELD_WRITABLE | NBX_FIELD_EXECUTABLE;
	gboolean must_exist = (field->flags & (NBX_FIELD_MUST_EXIST | rights)) != 0;
	const char *path = config_setting_get_string(setting);
	g_autofree char *shown = nbx_diagnostics_shorten(path);
	struct stat st;

	if (stat(path, &st) != 0) {
		if (must_exist)
			nbx_field_report(validation, setting, key_path, "%s does not exist: %s",
			       path_kind(type), shown);
		return !must_exist;
	}
	if ((type == NBX_FIELD_FILE && !S_ISREG(st.st_mode)) ||
	    (type == NBX_FIELD_DIRECTORY && !S_ISDIR(st.st_mode)) ||
	    (type == NBX_FIELD_UNIX_SOCKET && !S_ISSOCK(st.st_mode))) {
		nbx_field_report(validation, setting, key_path, "not a %s: %s",
		       type == NBX_FIELD_FILE ? "regular file" : path_kind(type), shown);
		return FALSE;
	}
	return check_access(validation, setting, key_path, path, field->flags);
}

static gboolean
check_path(const struct nbx_config_field *field, guint32 type, config_setting_t *setting,
	   const char *key_path, const NbxValidation *validation)
{
	const char *path;

	if (config_setting_get_string(setting)[0] == '\0') {
		nbx_field_report(validation, setting, key_path, "empty path");
		return FALSE;
	}
	make_absolute(setting, validation);
	path = config_setting_get_string(setting);
	if (type == NBX_FIELD_UNIX_SOCKET && !check_socket_path(field, setting, key_path, validation))
		return FALSE;
	if (!validation->check_environment)
		return TRUE;
	if (type == NBX_FIELD_UNIX_SOCKET && !(field->flags & NBX_FIELD_MUST_EXIST) &&
	    !g_file_test(path, G_FILE_TEST_EXISTS))
		return TRUE;
	return check_existing_path(field, type, setting, key_path, validation);
}

/* ---- network ------------------------------------------------------------ */

static gboolean
interface_is_up(const char *name, gboolean *up)
{
	struct ifreq request = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	g_strlcpy(request.ifr_name, name, sizeof request.ifr_name);
	ok = ioctl(fd, SIOCGIFFLAGS, &request) == 0;
	close(fd);
	*up = ok && (request.ifr_flags & IFF_UP) != 0;
	return ok;
}

static gboolean
check_interface(const struct nbx_config_field *field, config_setting_t *setting,
		const char *key_path, const NbxValidation *validation)
{
	const char *name = config_setting_get_string(setting);
	g_autofree char *quoted = nbx_diagnostics_quote(name);
	gboolean up = FALSE;

	if (name[0] == '\0' || strlen(name) >= IFNAMSIZ || strchr(name, '/') != NULL ||
	    strpbrk(name, " \t\n:") != NULL) {
		nbx_field_report(validation, setting, key_path, "not a network interface name: %s", quoted);
		return FALSE;
	}
	if (!validation->check_environment)
		return TRUE;
	if (if_nametoindex(name) == 0) {
		nbx_field_report(validation, setting, key_path, "network interface does not exist: %s", name);
		return FALSE;
	}
	if ((field->flags & NBX_FIELD_MUST_BE_UP) && (!interface_is_up(name, &up) || !up)) {
		nbx_field_report(validation, setting, key_path, "network interface is down: %s", name);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_mac(config_setting_t *setting, const char *key_path, const NbxValidation *validation)
{
	const char *value = config_setting_get_string(setting);
	g_autofree char *lower = g_ascii_strdown(value, -1);
	g_autofree char *quoted = nbx_diagnostics_quote(value);
	gboolean ok = strlen(value) == 17;

	for (int i = 0; ok && i < 17; i++)
		ok = (i % 3 == 2) ? value[i] == ':' : g_ascii_isxdigit(value[i]);
	if (!ok) {
		nbx_field_report(validation, setting, key_path,
		       "not a MAC address (expected aa:bb:cc:dd:ee:ff): %s", quoted);
		return FALSE;
	}
	/* The I/G bit of the first byte: a guest's NIC has an individual address. */
	if (g_ascii_xdigit_value(value[1]) & 1) {
		nbx_field_report(validation, setting, key_path,
		       "%s is a multicast address (the lowest bit of its first byte is set); a "
		       "machine needs a unicast one, e.g. 52:54:00:12:34:56",
		       quoted);
		return FALSE;
	}
	if (strcmp(lower, "00:00:00:00:00:00") == 0) {
		nbx_field_report(validation, setting, key_path, "00:00:00:00:00:00 is not a usable MAC address");
		return FALSE;
	}
	config_setting_set_string(setting, lower);
	return TRUE;
}

/*
 * Written back in one spelling per address (inet_ntop's), so that machines
 * compared by text are compared by address: FE80::A is fe80::a and
 * 0:0:0:0:0:0:0:1 is ::1.
 */
static gboolean
check_ip(config_setting_t *setting, const char *key_path, const NbxValidation *validation)
{
	const char *value = config_setting_get_string(setting);
	guint8 buffer[sizeof(struct in6_addr)];
	char canonical[INET6_ADDRSTRLEN];
	int family = inet_pton(AF_INET, value, buffer) == 1	   ? AF_INET
		     : inet_pton(AF_INET6, value, buffer) == 1 ? AF_INET6
							       : AF_UNSPEC;

	if (family == AF_UNSPEC) {
		g_autofree char *quoted = nbx_diagnostics_quote(value);

		nbx_field_report(validation, setting, key_path, "not an IPv4 or IPv6 address: %s", quoted);
		return FALSE;
	}
	if (inet_ntop(family, buffer, canonical, sizeof canonical) != NULL &&
	    strcmp(canonical, value) != 0)
		config_setting_set_string(setting, canonical);
	return TRUE;
}

/* ---- scalars ------------------------------------------------------------ */

static gboolean
in_bounds(gint64 value, gint64 min, gint64 max)
{
	return (min == 0 && max == 0) || (value >= min && value <= max);
}

static gboolean
check_enum(const struct nbx_config_field *field, config_setting_t *setting,
	   const char *key_path, const NbxValidation *validation)
{
	const char *value = config_setting_get_string(setting);
	g_autofree char *choices = NULL;
	g_autofree char *quoted = NULL;

	if (g_strv_contains((const char *const *)field->choices, value))
		return TRUE;
	choices = g_strjoinv(", ", (char **)field->choices);
	quoted = nbx_diagnostics_quote(value);
	nbx_field_report(validation, setting, key_path, "must be one of %s; found %s", choices, quoted);
	return FALSE;
}

static gboolean
check_integer(const struct nbx_config_field *field, config_setting_t *setting,
	      const char *key_path, const NbxValidation *validation)
{
	const char *literal = nbx_config_source_out_of_range(setting);
	gint64 value = config_setting_get_int64(setting);

	if (literal != NULL) {
		g_autofree char *shown = nbx_diagnostics_shorten(literal);
		const char *what = literal[0] == '-' ? "too small" : "too large";

		if (field->min == 0 && field->max == 0)
			nbx_field_report(validation, setting, key_path,
			       "%s is %s for a 64-bit integer (%" G_GINT64_FORMAT
			       " to %" G_GINT64_FORMAT ")",
			       shown, what, G_MININT64, G_MAXINT64);
		else
			nbx_field_report(validation, setting, key_path,
			       "must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
			       ", found %s, %s for a 64-bit integer",
			       field->min, field->max, shown, what);
		return FALSE;
	}
	if (!in_bounds(value, field->min, field->max)) {
		nbx_field_report(validation, setting, key_path,
		       "must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
		       ", found %" G_GINT64_FORMAT,
		       field->min, field->max, value);
		return FALSE;
	}
	return TRUE;
}

/* Every string goes on to JSON answers and terminals: it must be UTF-8. */
static gboolean
check_utf8(config_setting_t *setting, const char *key_path, const NbxValidation *validation)
{
	const char *value = config_setting_get_string(setting);
	const char *bad = NULL;

	if (g_utf8_validate(value, -1, &bad))
		return TRUE;
	nbx_field_report(validation, setting, key_path,
	       "is not valid UTF-8 (byte 0x%02x at offset %zu); write it in UTF-8",
	       (guchar)*bad, (gsize)(bad - value));
	return FALSE;
}

/* Checks a scalar of @type; @field gives flags, bounds and choices. */
static gboolean
check_scalar(const struct nbx_config_field *field, guint32 type, config_setting_t *setting,
	     const char *key_path, const NbxValidation *validation)
{
	int kind = config_setting_type(setting);

	switch (type) {
	case NBX_FIELD_INTEGER:
		return nbx_field_expect_type(validation, setting, key_path, "an integer",
				   kind == CONFIG_TYPE_INT || kind == CONFIG_TYPE_INT64) &&
		       check_integer(field, setting, key_path, validation);
	case NBX_FIELD_BOOLEAN:
		return nbx_field_expect_type(validation, setting, key_path, "a boolean (true or false)",
				   kind == CONFIG_TYPE_BOOL);
	default:
		break;
	}

	/* Every other scalar is written as a string. */
	if (!nbx_field_expect_type(validation, setting, key_path, "a string", kind == CONFIG_TYPE_STRING) ||
	    !check_utf8(setting, key_path, validation))
		return FALSE;
	if ((field->flags & NBX_FIELD_LOWERCASE) &&
	    (type == NBX_FIELD_STRING || type == NBX_FIELD_ENUM)) {
		g_autofree char *lower = g_utf8_strdown(config_setting_get_string(setting), -1);

		config_setting_set_string(setting, lower);
	}

	switch (type) {
	case NBX_FIELD_STRING:
		if ((field->flags & NBX_FIELD_NON_EMPTY) &&
		    config_setting_get_string(setting)[0] == '\0') {
			nbx_field_report(validation, setting, key_path, "must not be empty");
			return FALSE;
		}
		return TRUE;
	case NBX_FIELD_ENUM:
		return check_enum(field, setting, key_path, validation);
	case NBX_FIELD_FILE:
	case NBX_FIELD_DIRECTORY:
	case NBX_FIELD_UNIX_SOCKET:
		return check_path(field, type, setting, key_path, validation);
	case NBX_FIELD_INTERFACE:
		return check_interface(field, setting, key_path, validation);
	case NBX_FIELD_MAC_ADDRESS:
		return check_mac(setting, key_path, validation);
	case NBX_FIELD_IP_ADDRESS:
		return check_ip(setting, key_path, validation);
	default:
		g_return_val_if_reached(FALSE);
	}
}

/* ---- containers --------------------------------------------------------- */

gboolean
nbx_field_check_count(const struct nbx_config_field *field, config_setting_t *setting,
	    const char *key_path, const NbxValidation *validation)
{
	int n = config_setting_length(setting);

	if ((field->flags & NBX_FIELD_NON_EMPTY) && n == 0) {
		nbx_field_report(validation, setting, key_path, "must not be empty");
		return FALSE;
	}
	if (!in_bounds(n, field->min, field->max)) {
		nbx_field_report(validation, setting, key_path,
		       "must have between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
		       " elements, found %d",
		       field->min, field->max, n);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_list(const struct nbx_config_field *field, config_setting_t *setting,
	   const char *key_path, const NbxValidation *validation)
{
	int kind = config_setting_type(setting);
	/* min/max of a LIST bound its length, never its elements' values. */
	struct nbx_config_field element = *field;
	gboolean ok;

	element.min = element.max = 0;
	if (!nbx_field_expect_type(validation, setting, key_path, "a list [ ... ]",
			 kind == CONFIG_TYPE_ARRAY || kind == CONFIG_TYPE_LIST))
		return FALSE;
	ok = nbx_field_check_count(field, setting, key_path, validation);
	for (int i = 0; i < config_setting_length(setting); i++) {
		config_setting_t *item = config_setting_get_elem(setting, i);
		g_autofree char *path = g_strdup_printf("%s[%d]", key_path, i);

		ok &= check_scalar(&element, nbx_field_element_type(field), item, path, validation);
	}
	return ok;
}

/* ---- defaults ----------------------------------------------------------- */

static gboolean
parse_list_text(config_setting_t *group, const struct nbx_config_field *field, const char *text,
		GString *why)
{
	g_autofree char *document = g_strdup_printf("value = %s;", text);
	config_setting_t *parsed, *list;
	config_t config;
	gboolean ok = FALSE;

	config_init(&config);
	if (!config_read_string(&config, document)) {
		g_string_append_printf(why, "not a list: %s", config_error_text(&config));
		goto out;
	}
	parsed = config_lookup(&config, "value");
	if (config_setting_type(parsed) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(parsed) != CONFIG_TYPE_LIST) {
		g_string_append(why, "not a list [ ... ]");
		goto out;
	}
	list = config_setting_add(group, field->name, CONFIG_TYPE_LIST);
	for (int i = 0; i < config_setting_length(parsed); i++) {
		config_setting_t *from = config_setting_get_elem(parsed, i);
		config_setting_t *to = config_setting_add(list, NULL, config_setting_type(from));

		switch (config_setting_type(from)) {
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			config_setting_set_int64(to, config_setting_get_int64(from));
			break;
		case CONFIG_TYPE_BOOL:
			config_setting_set_bool(to, config_setting_get_bool(from));
			break;
		case CONFIG_TYPE_STRING:
			config_setting_set_string(to, config_setting_get_string(from));
			break;
		default:
			g_string_append(why, "list elements must be scalars");
			goto out;
		}
	}
	ok = TRUE;
out:
	config_destroy(&config);
	return ok;
}

gboolean
nbx_field_set_from_text(config_setting_t *group, const struct nbx_config_field *field,
			const char *text, GString *why)
{
	config_setting_t *setting;
	gint64 number;
	g_autoptr(GError) error = NULL;

	switch (field->type) {
	case NBX_FIELD_INTEGER:
		if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &number, &error)) {
			g_string_append_printf(why, "not an integer: %s", error->message);
			return FALSE;
		}
		setting = config_setting_add(group, field->name, CONFIG_TYPE_INT64);
		config_setting_set_int64(setting, number);
		return TRUE;
	case NBX_FIELD_BOOLEAN:
		if (g_strcmp0(text, "true") != 0 && g_strcmp0(text, "false") != 0) {
			g_string_append(why, "not true or false");
			return FALSE;
		}
		setting = config_setting_add(group, field->name, CONFIG_TYPE_BOOL);
		config_setting_set_bool(setting, g_strcmp0(text, "true") == 0);
		return TRUE;
	case NBX_FIELD_LIST:
		return parse_list_text(group, field, text, why);
	case NBX_FIELD_GROUP:
	case NBX_FIELD_GROUP_LIST:
		g_string_append(why, "groups take no default");
		return FALSE;
	default:
		setting = config_setting_add(group, field->name, CONFIG_TYPE_STRING);
		config_setting_set_string(setting, text);
		return TRUE;
	}
}

gboolean
nbx_field_check_value(const struct nbx_config_field *field, config_setting_t *setting,
		      const char *key_path, const NbxValidation *validation)
{
	g_return_val_if_fail(field->type != NBX_FIELD_GROUP && field->type != NBX_FIELD_GROUP_LIST,
			     FALSE);
	if (field->type == NBX_FIELD_LIST)
		return check_list(field, setting, key_path, validation);
	return check_scalar(field, field->type, setting, key_path, validation);
}
