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

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

static void G_GNUC_PRINTF(4, 5)
report(const NbxValidation *validation, const config_setting_t *setting, const char *key_path,
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

static gboolean
expect_type(const NbxValidation *validation, const config_setting_t *setting,
	    const char *key_path, const char *expected, gboolean ok)
{
	if (!ok)
		report(validation, setting, key_path, "expected %s, found %s", expected,
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
	gboolean ok = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(rights); i++) {
		if ((flags & rights[i].flag) && access(path, rights[i].mode) != 0) {
			report(validation, setting, key_path, "not %s by uid %u: %s (%s)",
			       rights[i].what, (unsigned)geteuid(), path, g_strerror(errno));
			ok = FALSE;
		}
	}
	return ok;
}

static gboolean
check_path(const struct nbx_config_field *field, guint32 type, config_setting_t *setting,
	   const char *key_path, const NbxValidation *validation)
{
	guint32 rights = NBX_FIELD_READABLE | NBX_FIELD_WRITABLE | NBX_FIELD_EXECUTABLE;
	gboolean must_exist = (field->flags & (NBX_FIELD_MUST_EXIST | rights)) != 0;
	const char *path;
	struct stat st;

	if (config_setting_get_string(setting)[0] == '\0') {
		report(validation, setting, key_path, "empty path");
		return FALSE;
	}
	make_absolute(setting, validation);
	path = config_setting_get_string(setting);
	if (type == NBX_FIELD_UNIX_SOCKET && strlen(path) > SUN_PATH_MAX) {
		report(validation, setting, key_path,
		       "socket path is %zu bytes, longer than the %zu a UNIX socket allows: %s",
		       strlen(path), SUN_PATH_MAX, path);
		return FALSE;
	}
	if (!validation->check_environment)
		return TRUE;

	if (stat(path, &st) != 0) {
		if (type == NBX_FIELD_UNIX_SOCKET && !must_exist) {
			g_autofree char *dir = g_path_get_dirname(path);

			if (access(dir, W_OK | X_OK) != 0) {
				report(validation, setting, key_path,
				       "directory of the socket is missing or not writable: %s (%s)",
				       dir, g_strerror(errno));
				return FALSE;
			}
			return TRUE;
		}
		if (!must_exist)
			return TRUE;
		report(validation, setting, key_path, "%s does not exist: %s",
		       type == NBX_FIELD_DIRECTORY ? "directory"
		       : type == NBX_FIELD_UNIX_SOCKET ? "socket"
						       : "file",
		       path);
		return FALSE;
	}
	if (type == NBX_FIELD_FILE && !S_ISREG(st.st_mode)) {
		report(validation, setting, key_path, "not a regular file: %s", path);
		return FALSE;
	}
	if (type == NBX_FIELD_DIRECTORY && !S_ISDIR(st.st_mode)) {
		report(validation, setting, key_path, "not a directory: %s", path);
		return FALSE;
	}
	if (type == NBX_FIELD_UNIX_SOCKET && !S_ISSOCK(st.st_mode)) {
		report(validation, setting, key_path, "not a socket: %s", path);
		return FALSE;
	}
	return check_access(validation, setting, key_path, path, field->flags);
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
	gboolean up = FALSE;

	if (name[0] == '\0' || strlen(name) >= IFNAMSIZ || strchr(name, '/') != NULL ||
	    strpbrk(name, " \t\n:") != NULL) {
		report(validation, setting, key_path, "not a network interface name: \"%s\"", name);
		return FALSE;
	}
	if (!validation->check_environment)
		return TRUE;
	if (if_nametoindex(name) == 0) {
		report(validation, setting, key_path, "network interface does not exist: %s", name);
		return FALSE;
	}
	if ((field->flags & NBX_FIELD_MUST_BE_UP) && (!interface_is_up(name, &up) || !up)) {
		report(validation, setting, key_path, "network interface is down: %s", name);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_mac(config_setting_t *setting, const char *key_path, const NbxValidation *validation)
{
	const char *value = config_setting_get_string(setting);
	g_autofree char *lower = g_ascii_strdown(value, -1);
	gboolean ok = strlen(value) == 17;

	for (int i = 0; ok && i < 17; i++)
		ok = (i % 3 == 2) ? value[i] == ':' : g_ascii_isxdigit(value[i]);
	if (!ok) {
		report(validation, setting, key_path,
		       "not a MAC address (expected aa:bb:cc:dd:ee:ff): \"%s\"", value);
		return FALSE;
	}
	config_setting_set_string(setting, lower);
	return TRUE;
}

static gboolean
check_ip(config_setting_t *setting, const char *key_path, const NbxValidation *validation)
{
	const char *value = config_setting_get_string(setting);
	guint8 buffer[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, value, buffer) == 1 || inet_pton(AF_INET6, value, buffer) == 1)
		return TRUE;
	report(validation, setting, key_path, "not an IPv4 or IPv6 address: \"%s\"", value);
	return FALSE;
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

	if (g_strv_contains((const char *const *)field->choices, value))
		return TRUE;
	choices = g_strjoinv(", ", (char **)field->choices);
	report(validation, setting, key_path, "must be one of %s; found \"%s\"", choices, value);
	return FALSE;
}

/* Checks a scalar of @type; @field gives flags, bounds and choices. */
static gboolean
check_scalar(const struct nbx_config_field *field, guint32 type, config_setting_t *setting,
	     const char *key_path, const NbxValidation *validation)
{
	int kind = config_setting_type(setting);

	switch (type) {
	case NBX_FIELD_INTEGER: {
		gint64 value;

		if (!expect_type(validation, setting, key_path, "an integer",
				 kind == CONFIG_TYPE_INT || kind == CONFIG_TYPE_INT64))
			return FALSE;
		value = config_setting_get_int64(setting);
		if (!in_bounds(value, field->min, field->max)) {
			report(validation, setting, key_path,
			       "must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
			       ", found %" G_GINT64_FORMAT,
			       field->min, field->max, value);
			return FALSE;
		}
		return TRUE;
	}
	case NBX_FIELD_BOOLEAN:
		return expect_type(validation, setting, key_path, "a boolean (true or false)",
				   kind == CONFIG_TYPE_BOOL);
	default:
		break;
	}

	/* Every other scalar is written as a string. */
	if (!expect_type(validation, setting, key_path, "a string", kind == CONFIG_TYPE_STRING))
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
			report(validation, setting, key_path, "must not be empty");
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

static gboolean
check_count(const struct nbx_config_field *field, config_setting_t *setting,
	    const char *key_path, const NbxValidation *validation)
{
	int n = config_setting_length(setting);

	if ((field->flags & NBX_FIELD_NON_EMPTY) && n == 0) {
		report(validation, setting, key_path, "must not be empty");
		return FALSE;
	}
	if (!in_bounds(n, field->min, field->max)) {
		report(validation, setting, key_path,
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
	if (!expect_type(validation, setting, key_path, "a list [ ... ]",
			 kind == CONFIG_TYPE_ARRAY || kind == CONFIG_TYPE_LIST))
		return FALSE;
	ok = check_count(field, setting, key_path, validation);
	for (int i = 0; i < config_setting_length(setting); i++) {
		config_setting_t *item = config_setting_get_elem(setting, i);
		g_autofree char *path = g_strdup_printf("%s[%d]", key_path, i);

		ok &= check_scalar(&element, nbx_field_element_type(field), item, path, validation);
	}
	return ok;
}

/* "machines.win10" when the element has a name, else "machines[2]". */
static char *
element_path(const char *key_path, config_setting_t *element, int index)
{
	const char *name = NULL;

	if (config_setting_lookup_string(element, "name", &name) && name[0] != '\0' &&
	    strpbrk(name, ". \t\n") == NULL)
		return g_strdup_printf("%s.%s", key_path, name);
	return g_strdup_printf("%s[%d]", key_path, index);
}

static gboolean
check_group(const struct nbx_config_field *field, config_setting_t *setting,
	    const char *key_path, const NbxValidation *validation)
{
	g_autoptr(NbxSchema) children = nbx_schema_new_static(field->children);

	if (!expect_type(validation, setting, key_path, "a group { ... }",
			 config_setting_type(setting) == CONFIG_TYPE_GROUP))
		return FALSE;
	return nbx_schema_validate_group(children, setting, key_path, validation);
}

static gboolean
check_group_list(const struct nbx_config_field *field, config_setting_t *setting,
		 const char *key_path, const NbxValidation *validation)
{
	g_autoptr(NbxSchema) children = nbx_schema_new_static(field->children);
	int kind = config_setting_type(setting);
	gboolean ok;

	/* An empty `[ ]` parses as an array; accept it as an empty list. */
	if (!expect_type(validation, setting, key_path, "a list of groups ( { ... }, ... )",
			 kind == CONFIG_TYPE_LIST ||
				 (kind == CONFIG_TYPE_ARRAY && config_setting_length(setting) == 0)))
		return FALSE;
	ok = check_count(field, setting, key_path, validation);
	for (int i = 0; i < config_setting_length(setting); i++) {
		config_setting_t *element = config_setting_get_elem(setting, i);
		g_autofree char *path = element_path(key_path, element, i);

		if (!expect_type(validation, element, path, "a group { ... }",
				 config_setting_type(element) == CONFIG_TYPE_GROUP)) {
			ok = FALSE;
			continue;
		}
		ok &= nbx_schema_validate_group(children, element, path, validation);
	}
	return ok;
}

gboolean
nbx_field_check(const struct nbx_config_field *field, config_setting_t *setting,
		const char *key_path, const NbxValidation *validation)
{
	switch (field->type) {
	case NBX_FIELD_LIST:
		return check_list(field, setting, key_path, validation);
	case NBX_FIELD_GROUP:
		return check_group(field, setting, key_path, validation);
	case NBX_FIELD_GROUP_LIST:
		return check_group_list(field, setting, key_path, validation);
	default:
		return check_scalar(field, field->type, setting, key_path, validation);
	}
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

void
nbx_field_apply_default(config_setting_t *group, const struct nbx_config_field *field,
			const char *key_path, const NbxValidation *validation)
{
	if (field->flags & NBX_FIELD_REQUIRED) {
		report(validation, group, key_path, "required key is missing");
		return;
	}
	if (field->type == NBX_FIELD_GROUP) {
		config_setting_t *created = config_setting_add(group, field->name, CONFIG_TYPE_GROUP);

		nbx_field_check(field, created, key_path, validation);
		return;
	}
	if (field->default_value != NULL) {
		g_autoptr(GString) why = g_string_new(NULL);
		config_setting_t *setting;

		/* The default passed its syntax check when the plugin loaded. */
		if (!nbx_field_set_from_text(group, field, field->default_value, why))
			g_return_if_reached();
		/* Normalise it like a written value (lower case, absolute path). */
		setting = config_setting_get_member(group, field->name);
		nbx_field_check(field, setting, key_path, validation);
	}
}
