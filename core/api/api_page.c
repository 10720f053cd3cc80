/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_page.h"

#include <gio/gio.h>
#include <string.h>
#include <sys/random.h>

#include "control_api_routes.h"
#include "page-resources.h"

#define SESSION_COOKIE "nbx_session"
/* Sessions kept at once; the oldest goes first. */
#define SESSIONS_MAX 64
#define SESSION_HOURS 12
#define RESOURCE_PREFIX "/org/nestbox/page/"

typedef struct {
	char *csrf;
	gint64 expires_us;
} Session;

struct _NbxApiPage {
	/* Session id -> Session. */
	GHashTable *sessions;
};

static void
session_free(gpointer data)
{
	Session *session = data;

	g_free(session->csrf);
	g_free(session);
}

NbxApiPage *
nbx_api_page_new(void)
{
	NbxApiPage *page = g_new0(NbxApiPage, 1);

	/*
	 * The files register themselves when their object is linked in; from a
	 * static library it is linked only if something refers to it.
	 */
	if (nbx_page_get_resource() == NULL)
		g_warning("the status page's files are missing from this build");
	page->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, session_free);
	return page;
}

void
nbx_api_page_free(NbxApiPage *page)
{
	if (page == NULL)
		return;
	g_hash_table_unref(page->sessions);
	g_free(page);
}

/* 32 bytes from the kernel's CSPRNG, in hex; NULL when it fails. */
static char *
random_secret(void)
{
	guint8 bytes[32];
	GString *hex = g_string_sized_new(2 * sizeof bytes);

	if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
		g_string_free(hex, TRUE);
		return NULL;
	}
	for (guint i = 0; i < sizeof bytes; i++)
		g_string_append_printf(hex, "%02x", bytes[i]);
	return g_string_free(hex, FALSE);
}

/* The request's live session, or NULL. */
static Session *
session_of(NbxApiPage *page, NbxApiRequest *request)
{
	const char *id = nbx_api_request_cookie(request, SESSION_COOKIE);
	Session *session = id != NULL ? g_hash_table_lookup(page->sessions, id) : NULL;

	if (session != NULL && session->expires_us < g_get_real_time()) {
		g_hash_table_remove(page->sessions, id);
		return NULL;
	}
	return session;
}

static void
drop_oldest_session(NbxApiPage *page)
{
	GHashTableIter iter;
	gpointer key, value;
	const char *oldest = NULL;
	gint64 oldest_expiry = G_MAXINT64;

	g_hash_table_iter_init(&iter, page->sessions);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		if (((Session *)value)->expires_us < oldest_expiry) {
			oldest = key;
			oldest_expiry = ((Session *)value)->expires_us;
		}
	}
	if (oldest != NULL)
		g_hash_table_remove(page->sessions, oldest);
}

static gboolean
path_is_public(const char *method, const char *path)
{
	return (strcmp(method, "GET") == 0 &&
		(strcmp(path, "/") == 0 || g_str_has_prefix(path, "/static/"))) ||
	       (strcmp(method, "POST") == 0 && strcmp(path, "/login") == 0);
}

/* The page's own forms, which check the CSRF token themselves. */
static gboolean
path_is_page_form(const char *method, const char *path)
{
	return strcmp(method, "POST") == 0 &&
	       (strcmp(path, "/logout") == 0 || g_str_has_prefix(path, "/ui/"));
}

gboolean
nbx_api_page_authorize(NbxApiPage *page, NbxApiRequest *request)
{
	const char *method = nbx_api_request_method(request);
	const char *path = nbx_api_request_path(request);

	if (path_is_public(method, path))
		return TRUE;
	if (session_of(page, request) == NULL)
		return FALSE;
	/* A cookie is sent whoever made the browser ask: it may read, not act. */
	return strcmp(method, "GET") == 0 || path_is_page_form(method, path);
}

/* ---- answers ---- */

static void
add_page_headers(NbxApiRequest *request)
{
	nbx_api_request_add_header(request, "Content-Security-Policy",
				   "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
	nbx_api_request_add_header(request, "X-Content-Type-Options", "nosniff");
	nbx_api_request_add_header(request, "Referrer-Policy", "no-referrer");
	nbx_api_request_add_header(request, "Cache-Control", "no-store");
}

static void
respond_html(NbxApiRequest *request, guint status, GString *html)
{
	add_page_headers(request);
	nbx_api_request_respond_bytes(request, status, "text/html; charset=utf-8",
				      g_string_free_to_bytes(html));
}

static void
redirect_home(NbxApiRequest *request)
{
	add_page_headers(request);
	nbx_api_request_add_header(request, "Location", "/");
	nbx_api_request_respond_bytes(request, 303, "text/plain; charset=utf-8",
				      g_bytes_new_static("", 0));
}

static void
respond_login(NbxApiRequest *request, guint status, const char *error)
{
	g_autoptr(GBytes) file = g_resources_lookup_data(RESOURCE_PREFIX "login.html",
							 G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	GString *html = g_string_new_len(g_bytes_get_data(file, NULL), g_bytes_get_size(file));

	if (error != NULL) {
		g_autofree char *escaped = g_markup_escape_text(error, -1);
		g_autofree char *line = g_strdup_printf("<p class=\"error\">%s</p>", escaped);

		g_string_replace(html, "<!--ERROR-->", line, 1);
	}
	respond_html(request, status, html);
}

void
nbx_api_page_static(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	static const struct {
		const char *name;
		const char *type;
	} files[] = {
		{ "page.css", "text/css; charset=utf-8" },
		{ "page.js", "text/javascript; charset=utf-8" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = NULL;

		if (strcmp(args[0], files[i].name) != 0)
			continue;
		path = g_strconcat(RESOURCE_PREFIX, files[i].name, NULL);
		add_page_headers(request);
		nbx_api_request_respond_bytes(
			request, 200, files[i].type,
			g_resources_lookup_data(path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL));
		return;
	}
	nbx_api_request_respond_error(request, 404, "not_found", NULL, "no such file: /static/%s",
				      args[0]);
}

/* The form fields of an application/x-www-form-urlencoded body, or NULL. */
static GHashTable *
read_form(NbxApiRequest *request)
{
	g_autoptr(GBytes) body = nbx_api_request_body(request);
	gsize length = 0;
	const char *data = g_bytes_get_data(body, &length);

	return g_uri_parse_params(length > 0 ? data : "", (gssize)length, "&",
				  G_URI_PARAMS_WWW_FORM, NULL);
}

void
nbx_api_page_login(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(GHashTable) form = read_form(request);
	const char *token = form != NULL ? g_hash_table_lookup(form, "token") : NULL;
	const char *expected = nbx_api_request_listener_token(request);
	g_autofree char *id = NULL;
	g_autofree char *cookie = NULL;
	Session *session;

	if (expected == NULL) {
		/* The UNIX socket needs no session. */
		redirect_home(request);
		return;
	}
	if (token == NULL || !nbx_api_token_equal(token, expected)) {
		respond_login(request, 401, "That is not the token of api.token_file.");
		return;
	}
	id = random_secret();
	session = g_new0(Session, 1);
	session->csrf = random_secret();
	if (id == NULL || session->csrf == NULL) {
		session_free(session);
		nbx_api_request_respond_error(request, 500, "internal", NULL,
					      "cannot make a session: getrandom failed");
		return;
	}
	session->expires_us = g_get_real_time() + (gint64)SESSION_HOURS * 3600 * G_USEC_PER_SEC;
	if (g_hash_table_size(api->page->sessions) >= SESSIONS_MAX)
		drop_oldest_session(api->page);
	g_hash_table_insert(api->page->sessions, g_strdup(id), session);
	cookie = g_strdup_printf(SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d",
				 id, SESSION_HOURS * 3600);
	nbx_api_request_add_header(request, "Set-Cookie", cookie);
	redirect_home(request);
}

/*
 * A form of the page: with a session, it must carry the session's CSRF
 * token and come from this origin (a browser sends Origin with a POST).
 * The UNIX socket, and a bearer token, need neither.
 */
static gboolean
check_form(NbxApiPage *page, NbxApiRequest *request, GHashTable *form, NbxApiProblem *problem)
{
	Session *session = session_of(page, request);
	const char *csrf = form != NULL ? g_hash_table_lookup(form, "csrf") : NULL;
	const char *origin = nbx_api_request_header(request, "Origin");
	const char *host = nbx_api_request_header(request, "Host");
	g_autofree char *own = g_strdup_printf("http://%s", host != NULL ? host : "");

	if (nbx_api_request_has_credentials(request))
		return TRUE;
	if (session == NULL)
		return nbx_api_problem_set(problem, 401, "unauthorized", NULL,
					   "sign in on the status page first");
	if (csrf == NULL || !nbx_api_token_equal(csrf, session->csrf))
		return nbx_api_problem_set(problem, 403, "forbidden", "csrf",
					   "csrf: missing or wrong; use the status page's own forms");
	if (origin != NULL && strcmp(origin, own) != 0)
		return nbx_api_problem_set(problem, 403, "forbidden", "origin",
					   "origin: %s is not this page's origin", origin);
	return TRUE;
}

void
nbx_api_page_logout(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(GHashTable) form = read_form(request);
	g_auto(NbxApiProblem) problem = { 0 };
	const char *id = nbx_api_request_cookie(request, SESSION_COOKIE);

	if (!check_form(api->page, request, form, &problem)) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	if (id != NULL)
		g_hash_table_remove(api->page->sessions, id);
	nbx_api_request_add_header(request, "Set-Cookie",
				   SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	redirect_home(request);
}

void
nbx_api_page_cancel(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	g_autoptr(GHashTable) form = read_form(request);
	g_auto(NbxApiProblem) problem = { 0 };
	g_autoptr(GError) error = NULL;
	guint64 id = 0;

	if (!check_form(api->page, request, form, &problem)) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	if (!g_ascii_isdigit(*args[0]) ||
	    !g_ascii_string_to_unsigned(args[0], 10, 1, G_MAXINT64, &id, NULL)) {
		nbx_api_request_respond_error(request, 400, "invalid", "id",
					      "id: expected a positive integer, found \"%s\"",
					      args[0]);
		return;
	}
	if (!nbx_scheduler_cancel(api->scheduler, (gint64)id, &error)) {
		nbx_api_respond_scheduler_error(request, error, "conflict", 409);
		return;
	}
	redirect_home(request);
}

void
nbx_api_page_show(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	Session *session = session_of(api->page, request);

	if (!nbx_api_request_has_credentials(request) && session == NULL) {
		respond_login(request, 200, NULL);
		return;
	}
	respond_html(request, 200, nbx_api_page_render(api, session != NULL ? session->csrf : NULL));
}
