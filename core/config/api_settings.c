/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_settings.h"

#include <errno.h>
#include <gio/gio.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_source.h"
#include "schema.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)
/* A token file is a line of text: anything bigger is the wrong file. */
#define TOKEN_FILE_MAX_BYTES 4096

/* Where each check reports, and to whom. */
typedef struct {
	config_setting_t *root;
	config_setting_t *api;
	NbxDiagnostics *diagnostics;
} Checker;

static config_setting_t *
setting_of(const Checker *checker, const char *key_path)
{
	config_setting_t *setting = config_setting_lookup(checker->root, key_path);

	return setting != NULL ? setting : checker->api != NULL ? checker->api : checker->root;
}

static void G_GNUC_PRINTF(3, 4)
report(const Checker *checker, const char *key_path, const char *format, ...)
{
	g_autofree char *location = nbx_setting_location(setting_of(checker, key_path));
	va_list args;

	va_start(args, format);
	nbx_diagnostics_addv(checker->diagnostics, location, key_path, format, args);
	va_end(args);
}

/* A string setting of the group, or NULL when it is absent, empty or no string. */
static const char *
api_string(const Checker *checker, const char *key)
{
	const char *value = NULL;

	if (checker->api == NULL || !config_setting_lookup_string(checker->api, key, &value) ||
	    *value == '\0')
		return NULL;
	return value;
}

/* ---- the socket ---------------------------------------------------------- */

/* nestboxd creates run_dir, not the directory of an api.socket set apart. */
static void
check_socket_directory(const Checker *checker, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *shown = nbx_diagnostics_shorten(dir);
	struct stat st;

	if (stat(dir, &st) != 0)
		report(checker, "api.socket", "directory %s does not exist (nestboxd creates run_dir, "
		       "not the directory of api.socket)", shown);
	else if (!S_ISDIR(st.st_mode))
		report(checker, "api.socket", "%s is not a directory", shown);
	else if (access(dir, W_OK | X_OK) != 0)
		report(checker, "api.socket", "directory %s is not writable by uid %u (%s)", shown,
		       (unsigned)geteuid(), g_strerror(errno));
}

static char *
socket_path(const Checker *checker, const char *base_dir, const char *run_dir)
{
	const char *configured = api_string(checker, "socket");
	g_autofree char *path = configured != NULL ? g_canonicalize_filename(configured, base_dir)
						   : g_build_filename(run_dir, "api.sock", NULL);
	g_autofree char *shown = nbx_diagnostics_shorten(path);
	struct stat st;

	if (strlen(path) > SUN_PATH_MAX) {
		if (configured != NULL)
			report(checker, "api.socket", "%s is %zu bytes long; a UNIX socket path has "
			       "at most %zu", shown, strlen(path), SUN_PATH_MAX);
		else
			report(checker, "run_dir", "the control API's socket %s would be %zu bytes "
			       "long; a UNIX socket path has at most %zu: choose a shorter run_dir, "
			       "or set api.socket", shown, strlen(path), SUN_PATH_MAX);
		return g_steal_pointer(&path);
	}
	if (configured != NULL)
		check_socket_directory(checker, path);
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		report(checker, configured != NULL ? "api.socket" : "run_dir",
		       "%s exists and is not a socket; remove it or choose another path", shown);
	return g_steal_pointer(&path);
}

static gboolean
in_group(gid_t gid)
{
	int n = getgroups(0, NULL);
	g_autofree gid_t *groups = g_new0(gid_t, MAX(n, 1));

	if (getegid() == gid)
		return TRUE;
	n = getgroups(n, groups);
	for (int i = 0; i < n; i++) {
		if (groups[i] == gid)
			return TRUE;
	}
	return FALSE;
}

/* getgrnam_r(): a reload validates on a worker thread. */
static void
check_socket_group(const Checker *checker, const char *group)
{
	g_autofree char *buffer = g_malloc(65536);
	g_autofree char *quoted = nbx_diagnostics_quote(group);
	struct group entry, *found = NULL;
	int error = getgrnam_r(group, &entry, buffer, 65536, &found);

	if (found == NULL) {
		report(checker, "api.socket_group", "no group named %s%s%s", quoted,
		       error != 0 ? ": " : "", error != 0 ? g_strerror(error) : "");
		return;
	}
	if (geteuid() != 0 && !in_group(found->gr_gid))
		report(checker, "api.socket_group", "the daemon's user (uid %u) is neither root nor "
		       "in group %s: it cannot give the socket to it", (unsigned)geteuid(), quoted);
}

/* ---- TCP and its token --------------------------------------------------- */

/* "ADDRESS:PORT" or "[IPV6]:PORT", an IP literal: a name could resolve to anything. */
static gboolean
tcp_address_is_valid(const char *text)
{
	g_autofree char *host = NULL;
	g_autoptr(GInetAddress) inet = NULL;
	const char *colon = strrchr(text, ':');
	guint64 port = 0;

	if (colon != NULL && text[0] == '[' && colon > text + 1 && colon[-1] == ']')
		host = g_strndup(text + 1, colon - text - 2);
	else if (colon != NULL && strchr(text, ':') == colon)
		host = g_strndup(text, colon - text);
	if (host == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL))
		return FALSE;
	inet = g_inet_address_new_from_string(host);
	return inet != NULL;
}

/* Like sshd's StrictModes: a secret others can read or change is no secret. */
static gboolean
check_token_file_mode(const Checker *checker, const char *path, const struct stat *st)
{
	guint mode = st->st_mode & 07777;

	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		report(checker, "api.token_file", "%s is owned by uid %u, not by root or the daemon's "
		       "user (uid %u)", path, (unsigned)st->st_uid, (unsigned)geteuid());
		return FALSE;
	}
	if (mode & S_IRWXO) {
		report(checker, "api.token_file", "%s is open to every user (mode %04o); run: "
		       "chmod o-rwx %s", path, mode, path);
		return FALSE;
	}
	if (mode & S_IWGRP) {
		report(checker, "api.token_file", "%s is writable by group %u (mode %04o); run: "
		       "chmod g-w %s", path, (unsigned)st->st_gid, mode, path);
		return FALSE;
	}
	return TRUE;
}

static char *
read_token(const Checker *checker, const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *contents = NULL;
	struct stat st;

	if (!nbx_config_source_read_regular(path, TOKEN_FILE_MAX_BYTES, &contents, NULL, &st,
					    &error)) {
		report(checker, "api.token_file", "cannot read %s: %s", path, error->message);
		return NULL;
	}
	if (!check_token_file_mode(checker, path, &st))
		return NULL;
	return g_strdup(g_strstrip(contents));
}

static void
check_token(const Checker *checker, const char *path, const char *token)
{
	const char *advice = "put at least " G_STRINGIFY(NBX_API_TOKEN_MIN_LENGTH)
			     " random characters in it, e.g. `head -c 32 /dev/urandom | base64`";

	if (*token == '\0')
		report(checker, "api.token_file", "%s is empty: api.tcp needs a token; %s", path,
		       advice);
	else if (strlen(token) < NBX_API_TOKEN_MIN_LENGTH)
		report(checker, "api.token_file", "the token in %s is %zu characters long, too short; "
		       "%s", path, strlen(token), advice);
	else if (!nbx_text_is_printable(token))
		report(checker, "api.token_file", "the token in %s must be one line of printable "
		       "characters", path);
}

static void
read_tcp(const Checker *checker, NbxApiSettings *settings)
{
	const char *tcp = api_string(checker, "tcp");
	const char *token_file = api_string(checker, "token_file");

	if (token_file != NULL) {
		settings->token_file = g_strdup(token_file);
		settings->token = read_token(checker, token_file);
	}
	if (tcp == NULL)
		return;
	settings->tcp_address = g_strdup(tcp);
	if (!tcp_address_is_valid(tcp)) {
		g_autofree char *quoted = nbx_diagnostics_quote(tcp);

		report(checker, "api.tcp", "expected ADDRESS:PORT with an IP address and a port from "
		       "1 to 65535 (e.g. 127.0.0.1:8090 or [::1]:8090), found %s", quoted);
	}
	if (token_file == NULL)
		report(checker, "api.tcp", "TCP clients must authenticate: set api.token_file too");
	else if (settings->token != NULL)
		check_token(checker, token_file, settings->token);
}

/* The numbers, bounded by the schema already, in the units the API counts in. */
static void
read_limits(NbxApiSettings *settings, const NbxSettings *typed)
{
	settings->max_body_bytes = (gsize)typed->api.max_upload_mb * 1024 * 1024;
	settings->max_json_bytes = (gsize)typed->api.max_json_kb * 1024;
	settings->max_header_bytes = (gsize)typed->api.max_header_kb * 1024;
	settings->max_connections = (guint)typed->api.max_connections;
	settings->header_timeout_s = (guint)typed->api.header_timeout;
	settings->idle_timeout_s = (guint)typed->api.idle_timeout;
	settings->listen_backlog = (guint)typed->api.listen_backlog;
}

NbxApiSettings *
nbx_api_settings_read(config_setting_t *root, const NbxSettings *typed, const char *base_dir,
		      const char *run_dir, NbxDiagnostics *diagnostics)
{
	NbxApiSettings *settings = g_new0(NbxApiSettings, 1);
	Checker checker = { root, config_setting_get_member(root, "api"), diagnostics };
	const char *group;

	if (checker.api != NULL && config_setting_type(checker.api) != CONFIG_TYPE_GROUP)
		checker.api = NULL;
	group = api_string(&checker, "socket_group");
	settings->socket_path = socket_path(&checker, base_dir, run_dir);
	if (group != NULL) {
		settings->socket_group = g_strdup(group);
		check_socket_group(&checker, group);
	}
	read_tcp(&checker, settings);
	read_limits(settings, typed);
	return settings;
}

void
nbx_api_settings_free(NbxApiSettings *settings)
{
	if (settings == NULL)
		return;
	g_free(settings->socket_path);
	g_free(settings->socket_group);
	g_free(settings->tcp_address);
	g_free(settings->token_file);
	if (settings->token != NULL)
		memset(settings->token, 0, strlen(settings->token));
	g_free(settings->token);
	g_free(settings);
}
