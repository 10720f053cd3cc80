/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config_source.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/*
 * libconfig prefixes every include it would open itself with this: a path
 * under a non-directory fails at once. Every include is spliced here, so
 * one the lexer below missed fails instead of blocking or escaping.
 */
#define INCLUDE_GUARD_DIR "/dev/null/nestbox-splices-includes"
/* Room left in the text for a marker: "-9223372036854775808L" and a space. */
#define MARKER_WIDTH 22

typedef struct {
	guint text_line; /* first line of the segment in the spliced text, from 1 */
	guint file;	 /* index in the source's files */
	guint file_line; /* the same line in that file */
} Segment;

typedef struct {
	GPtrArray *files;	  /* char *: the file names; [0] is the top one */
	GArray *segments;	  /* Segment, by text_line */
	GPtrArray *literals;	  /* char *: the integers beyond 64 bits, as written */
	GHashTable *out_of_range; /* config_setting_t * -> one of literals */
} Source;

/* A literal beyond 64 bits, waiting for its marker. */
typedef struct {
	gsize offset; /* of its room in the text */
	guint literal;
} Pending;

typedef struct {
	Source *source;
	NbxDiagnostics *diagnostics;
	GString *text;
	guint text_line;
	GHashTable *values;  /* every integer written, so no marker equals one */
	GArray *pending;     /* Pending */
	GPtrArray *stack;    /* char *: the files being read (canonical), outermost first */
	gboolean includes;   /* FALSE: text with no file, includes refused */
	gboolean failed;
} Splice;

enum { NORMAL, STRING, BLOCK_COMMENT };

static void
source_free(gpointer data)
{
	Source *source = data;

	g_ptr_array_unref(source->files);
	g_array_unref(source->segments);
	g_ptr_array_unref(source->literals);
	g_hash_table_unref(source->out_of_range);
	g_free(source);
}

static Source *
source_new(void)
{
	Source *source = g_new0(Source, 1);

	source->files = g_ptr_array_new_with_free_func(g_free);
	source->segments = g_array_new(FALSE, FALSE, sizeof(Segment));
	source->literals = g_ptr_array_new_with_free_func(g_free);
	source->out_of_range = g_hash_table_new(NULL, NULL);
	return source;
}

/* ---- reading a file without blocking ------------------------------------ */

static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a file";
}

static gboolean
check_regular(const char *path, const struct stat *st, GError **error)
{
	if (S_ISREG(st->st_mode))
		return TRUE;
	g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "is %s, not a regular file",
		    file_kind(st->st_mode));
	return FALSE;
}

static gboolean
set_errno_error(GError **error, int code)
{
	g_set_error_literal(error, G_FILE_ERROR, g_file_error_from_errno(code),
			    code == ENOENT ? "file does not exist" : g_strerror(code));
	return FALSE;
}

static gboolean
read_fd(int fd, gsize max_bytes, GString *out, GError **error)
{
	char buffer[65536];

	for (;;) {
		ssize_t n = read(fd, buffer, sizeof buffer);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return set_errno_error(error, errno);
		if (n == 0)
			return TRUE;
		if (out->len + (gsize)n > max_bytes) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
				    "is larger than %zu bytes", max_bytes);
			return FALSE;
		}
		g_string_append_len(out, buffer, n);
	}
}

gboolean
nbx_config_source_read_regular(const char *path, gsize max_bytes, char **contents,
			       gsize *length, struct stat *st, GError **error)
{
	g_autoptr(GString) out = g_string_new(NULL);
	struct stat before, after;
	int fd;
	gboolean ok;

	if (stat(path, &before) != 0)
		return set_errno_error(error, errno);
	if (!check_regular(path, &before, error))
		return FALSE;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return set_errno_error(error, errno);
	ok = fstat(fd, &after) == 0 ? check_regular(path, &after, error)
				    : set_errno_error(error, errno);
	ok = ok && read_fd(fd, max_bytes, out, error);
	close(fd);
	if (!ok)
		return FALSE;
	if (st != NULL)
		*st = after;
	if (length != NULL)
		*length = out->len;
	*contents = g_string_free(g_steal_pointer(&out), FALSE);
	return TRUE;
}

/* ---- the spliced text and its map --------------------------------------- */

static void
emit(Splice *splice, const char *from, gsize length)
{
	for (gsize i = 0; i < length; i++)
		splice->text_line += from[i] == '\n';
	g_string_append_len(splice->text, from, length);
}

/* From the current line of the text on, lines come from @file's @file_line. */
static void
segment_start(Splice *splice, guint file, guint file_line)
{
	GArray *segments = splice->source->segments;
	Segment segment = { splice->text_line, file, file_line };

	if (segments->len > 0 &&
	    g_array_index(segments, Segment, segments->len - 1).text_line == splice->text_line)
		g_array_index(segments, Segment, segments->len - 1) = segment;
	else
		g_array_append_val(segments, segment);
}

static void G_GNUC_PRINTF(4, 5)
fail(Splice *splice, const char *file, guint line, const char *format, ...)
{
	g_autofree char *message = NULL;
	g_autofree char *location = line > 0 ? g_strdup_printf("%s:%u", file, line)
					     : g_strdup(file);
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	nbx_diagnostics_add(splice->diagnostics, location, NULL, "%s", message);
	splice->failed = TRUE;
}

/* ---- integer literals --------------------------------------------------- */

typedef enum { NOT_A_NUMBER, FLOAT, DECIMAL, HEX } NumberKind;

static gsize
digits(const char *p, const char *end, gboolean hex)
{
	const char *q = p;

	while (q < end && (hex ? g_ascii_isxdigit(*q) : g_ascii_isdigit(*q)))
		q++;
	return q - p;
}

static gsize
exponent(const char *p, const char *end)
{
	const char *q = p + 1;

	if (p >= end || (*p != 'e' && *p != 'E'))
		return 0;
	if (q < end && (*q == '+' || *q == '-'))
		q++;
	return digits(q, end, FALSE) > 0 ? (gsize)(q - p) + digits(q, end, FALSE) : 0;
}

/*
 * The number token at @p, matched as libconfig's scanner does (the longest
 * of its float, integer and hex rules), without any `L` suffix.
 */
static NumberKind
scan_number(const char *p, const char *end, gsize *length)
{
	const char *q = p;
	gsize n;

	if (end - p >= 3 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
	    g_ascii_isxdigit(p[2])) {
		*length = 2 + digits(p + 2, end, TRUE);
		return HEX;
	}
	if (*q == '+' || *q == '-')
		q++;
	n = digits(q, end, FALSE);
	q += n;
	if (q < end && *q == '.') {
		q++;
		q += digits(q, end, FALSE);
		q += exponent(q, end);
		*length = q - p;
		return FLOAT;
	}
	if (n > 0 && exponent(q, end) > 0) {
		*length = (q - p) + exponent(q, end);
		return FLOAT;
	}
	*length = q - p;
	return n > 0 ? DECIMAL : NOT_A_NUMBER;
}

static gboolean
literal_value(const char *literal, NumberKind kind, gint64 *value)
{
	guint64 unsigned_value;

	if (kind == DECIMAL)
		return g_ascii_string_to_signed(literal, 10, G_MININT64, G_MAXINT64, value, NULL);
	if (!g_ascii_string_to_unsigned(literal + 2, 16, 0, G_MAXINT64, &unsigned_value, NULL))
		return FALSE;
	*value = (gint64)unsigned_value;
	return TRUE;
}

/* Copies the integer at @p (@length bytes, then any `L`s) with an `L`; returns its end. */
static const char *
copy_integer(Splice *splice, const char *p, const char *end, gsize length, NumberKind kind)
{
	g_autofree char *literal = g_strndup(p, length);
	gsize suffix = 0;
	gint64 value;

	while (suffix < 2 && p + length + suffix < end && p[length + suffix] == 'L')
		suffix++;
	if (literal_value(literal, kind, &value)) {
		g_hash_table_add(splice->values, g_memdup2(&value, sizeof value));
		emit(splice, p, length + suffix);
		if (suffix == 0)
			emit(splice, "L", 1);
	} else {
		Pending pending = { splice->text->len, splice->source->literals->len };

		g_ptr_array_add(splice->source->literals, g_strndup(p, length + suffix));
		g_array_append_val(splice->pending, pending);
		g_string_append_printf(splice->text, "%*s", MARKER_WIDTH, "");
	}
	return p + length + suffix;
}

/*
 * Gives each literal beyond 64 bits a marker: a value no literal of the text
 * has, so a setting holding one after parsing was written out of range.
 */
static GHashTable *
place_markers(Splice *splice)
{
	GHashTable *markers = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	gint64 candidate = G_MAXINT64;

	for (guint i = 0; i < splice->pending->len; i++) {
		Pending *pending = &g_array_index(splice->pending, Pending, i);
		char marker[MARKER_WIDTH + 1];

		while (g_hash_table_contains(splice->values, &candidate))
			candidate--;
		g_snprintf(marker, sizeof marker, "%" G_GINT64_FORMAT "L", candidate);
		memcpy(splice->text->str + pending->offset, marker, strlen(marker));
		g_hash_table_insert(markers, g_memdup2(&candidate, sizeof candidate),
				    GUINT_TO_POINTER(pending->literal + 1));
		candidate--;
	}
	return markers;
}

static void
find_markers(Source *source, GHashTable *markers, config_setting_t *setting)
{
	int type = config_setting_type(setting);

	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		gint64 value = config_setting_get_int64(setting);
		guint index = GPOINTER_TO_UINT(g_hash_table_lookup(markers, &value));

		if (index > 0)
			g_hash_table_insert(source->out_of_range, setting,
					    g_ptr_array_index(source->literals, index - 1));
		return;
	}
	if (type != CONFIG_TYPE_GROUP && type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return;
	for (int i = 0; i < config_setting_length(setting); i++)
		find_markers(source, markers, config_setting_get_elem(setting, i));
}

/* ---- includes ----------------------------------------------------------- */

static void splice_file(Splice *splice, const char *path, const char *from_file,
			guint from_line, const char *written);

/*
 * At @p, in the normal state at the start of a line: an `@include "PATH"`
 * (libconfig's `^[ \t]*@include[ \t]+\"`)? Sets @path_start to the byte
 * after the opening quote.
 */
static gboolean
is_include(const char *p, const char *end, const char **path_start)
{
	static const char keyword[] = "@include";
	const char *q = p;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if ((gsize)(end - q) < sizeof keyword || strncmp(q, keyword, sizeof keyword - 1) != 0)
		return FALSE;
	q += sizeof keyword - 1;
	if (q >= end || (*q != ' ' && *q != '\t'))
		return FALSE;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q >= end || *q != '"')
		return FALSE;
	*path_start = q + 1;
	return TRUE;
}

/* Reads the include's path up to its closing quote; NULL when there is none. */
static const char *
include_path(const char *p, const char *end, GString *path, guint *lines)
{
	for (; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\' && p + 1 < end && (p[1] == '\\' || p[1] == '"'))
			p++;
		*lines += *p == '\n';
		g_string_append_c(path, *p);
	}
	return NULL;
}

/* Handles the include at @p (line @line of @file); returns where the file goes on. */
static const char *
splice_include(Splice *splice, guint file, const char *p, const char *end, guint *line)
{
	const char *name = g_ptr_array_index(splice->source->files, file);
	g_autoptr(GString) written = g_string_new(NULL);
	g_autofree char *relative_dir = g_path_get_dirname(name);
	g_autofree char *dir = g_canonicalize_filename(relative_dir, NULL);
	g_autofree char *path = NULL;
	guint directive_line = *line;
	const char *path_start = NULL, *after;

	is_include(p, end, &path_start);
	after = include_path(path_start, end, written, line);
	if (after == NULL) {
		fail(splice, name, directive_line, "@include: the file name has no closing quote");
		return end;
	}
	if (!splice->includes) {
		fail(splice, name, directive_line, "@include \"%s\": not allowed here",
		     written->str);
		return after;
	}
	path = g_canonicalize_filename(written->str, dir);
	splice_file(splice, path, name, directive_line, written->str);
	if (splice->text->len > 0 && splice->text->str[splice->text->len - 1] != '\n')
		emit(splice, "\n", 1);
	segment_start(splice, file, *line);
	return after;
}

/* ---- the lexer ---------------------------------------------------------- */

static gboolean
starts_name(char c)
{
	return g_ascii_isalpha(c) || c == '*';
}

static gboolean
continues_name(char c)
{
	return g_ascii_isalnum(c) || c == '*' || c == '_' || c == '-';
}

/* One token or character of the normal state at @p; returns where it ends. */
static const char *
copy_normal(Splice *splice, const char *p, const char *end, int *state)
{
	const char *q = p;
	gsize length;
	NumberKind kind;

	if (*p == '"') {
		*state = STRING;
	} else if (*p == '/' && p + 1 < end && p[1] == '*') {
		*state = BLOCK_COMMENT;
		q = p + 1;
	} else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
		while (q + 1 < end && q[1] != '\n')
			q++;
	} else if (starts_name(*p)) {
		while (q + 1 < end && continues_name(q[1]))
			q++;
	} else if ((kind = scan_number(p, end, &length)) == DECIMAL || kind == HEX) {
		return copy_integer(splice, p, end, length, kind);
	} else if (kind == FLOAT) {
		q = p + length - 1;
	}
	emit(splice, p, q + 1 - p);
	return q + 1;
}

static const char *
copy_quoted(Splice *splice, const char *p, const char *end, int *state)
{
	gsize length = 1;

	if (*state == STRING && *p == '\\' && p + 1 < end)
		length = 2;
	else if (*state == STRING && *p == '"')
		*state = NORMAL;
	else if (*state == BLOCK_COMMENT && *p == '*' && p + 1 < end && p[1] == '/') {
		*state = NORMAL;
		length = 2;
	}
	emit(splice, p, length);
	return p + length;
}

static void
lex(Splice *splice, guint file, const char *text, gsize size)
{
	const char *p = text, *end = text + size, *unused;
	gboolean line_start = TRUE;
	int state = NORMAL;
	guint line = 1;

	while (p < end) {
		const char *next;

		if (state == NORMAL && line_start && is_include(p, end, &unused)) {
			p = splice_include(splice, file, p, end, &line);
			line_start = FALSE;
			continue;
		}
		next = state == NORMAL ? copy_normal(splice, p, end, &state)
				       : copy_quoted(splice, p, end, &state);
		for (const char *c = p; c < next; c++)
			line += *c == '\n';
		line_start = next[-1] == '\n';
		p = next;
	}
}

static gboolean
check_no_nul(Splice *splice, const char *path, const char *text, gsize length)
{
	const char *nul = memchr(text, '\0', length);
	guint line = 1;

	if (nul == NULL)
		return TRUE;
	for (const char *c = text; c < nul; c++)
		line += *c == '\n';
	fail(splice, path, line, "contains a NUL byte: not a text file");
	return FALSE;
}

static gboolean
enter_file(Splice *splice, const char *path, const char *from_file, guint from_line,
	   const char *written)
{
	g_autofree char *canonical = g_canonicalize_filename(path, NULL);

	for (guint i = 0; i < splice->stack->len; i++) {
		if (g_strcmp0(g_ptr_array_index(splice->stack, i), canonical) == 0) {
			fail(splice, from_file, from_line, "@include \"%s\": %s includes itself",
			     written, path);
			return FALSE;
		}
	}
	if (splice->stack->len >= NBX_CONFIG_MAX_INCLUDE_DEPTH) {
		fail(splice, from_file, from_line, "@include \"%s\": includes nested deeper than %d",
		     written, NBX_CONFIG_MAX_INCLUDE_DEPTH);
		return FALSE;
	}
	return TRUE;
}

static void
leave_file(Splice *splice)
{
	g_ptr_array_remove_index(splice->stack, splice->stack->len - 1);
}

static void
splice_file(Splice *splice, const char *path, const char *from_file, guint from_line,
	    const char *written)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	gsize length, room = NBX_CONFIG_MAX_BYTES - MIN(splice->text->len, NBX_CONFIG_MAX_BYTES);
	guint file = splice->source->files->len;

	if (!enter_file(splice, path, from_file, from_line, written))
		return;
	if (!nbx_config_source_read_regular(path, room, &text, &length, NULL, &error)) {
		if (from_file == NULL)
			fail(splice, path, 0, "cannot read: %s", error->message);
		else
			fail(splice, from_file, from_line, "@include \"%s\": cannot read %s: %s",
			     written, path, error->message);
		return;
	}
	if (!check_no_nul(splice, path, text, length))
		return;
	g_ptr_array_add(splice->source->files, g_strdup(path));
	g_ptr_array_add(splice->stack, g_canonicalize_filename(path, NULL));
	segment_start(splice, file, 1);
	lex(splice, file, text, length);
	leave_file(splice);
}

/* ---- parsing ------------------------------------------------------------ */

static void source_lookup(const Source *source, guint line, const char **file,
			  guint *file_line);

static void
report_parse_error(const Source *source, const config_t *config, NbxDiagnostics *diagnostics)
{
	const char *text = config_error_text(config);
	const char *file = NULL;
	g_autofree char *location = NULL;
	guint line = 0;

	source_lookup(source, (guint)MAX(config_error_line(config), 0), &file, &line);
	location = line > 0 ? g_strdup_printf("%s:%u", file, line) : g_strdup(file);
	/* libconfig's parser says "syntax error" and nothing more: do not say it twice. */
	nbx_diagnostics_add(diagnostics, location, NULL, "%s",
			    text != NULL && g_strcmp0(text, "syntax error") != 0 ? text
										  : "syntax error");
}

static gboolean
parse(Splice *splice, config_t *config)
{
	g_autoptr(GHashTable) markers = place_markers(splice);
	Source *source = splice->source;

	config_set_include_dir(config, INCLUDE_GUARD_DIR);
	if (!config_read_string(config, splice->text->str)) {
		report_parse_error(source, config, splice->diagnostics);
		return FALSE;
	}
	find_markers(source, markers, config_root_setting(config));
	config_setting_set_hook(config_root_setting(config), g_steal_pointer(&splice->source));
	config_set_destructor(config, source_free);
	return TRUE;
}

static gboolean
read_source(config_t *config, const char *name, const char *text, gboolean is_file,
	    NbxDiagnostics *diagnostics)
{
	Splice splice = {
		.source = source_new(),
		.diagnostics = diagnostics,
		.text = g_string_new(NULL),
		.text_line = 1,
		.values = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL),
		.pending = g_array_new(FALSE, FALSE, sizeof(Pending)),
		.stack = g_ptr_array_new_with_free_func(g_free),
		.includes = is_file,
	};
	gboolean ok;

	if (is_file) {
		splice_file(&splice, name, NULL, 0, NULL);
	} else {
		g_ptr_array_add(splice.source->files, g_strdup(name));
		segment_start(&splice, 0, 1);
		lex(&splice, 0, text, strlen(text));
	}
	ok = !splice.failed && parse(&splice, config);
	if (splice.source != NULL)
		source_free(splice.source);
	g_string_free(splice.text, TRUE);
	g_hash_table_unref(splice.values);
	g_array_unref(splice.pending);
	g_ptr_array_unref(splice.stack);
	return ok;
}

gboolean
nbx_config_source_read_file(config_t *config, const char *path, NbxDiagnostics *diagnostics)
{
	return read_source(config, path, NULL, TRUE, diagnostics);
}

gboolean
nbx_config_source_read_text(config_t *config, const char *name, const char *text,
			    NbxDiagnostics *diagnostics)
{
	return read_source(config, name, text, FALSE, diagnostics);
}

/* ---- looking up ---------------------------------------------------------- */

static const Source *
source_of(const config_setting_t *setting)
{
	while (setting != NULL && config_setting_parent(setting) != NULL)
		setting = config_setting_parent(setting);
	return setting != NULL ? config_setting_get_hook(setting) : NULL;
}

static void
source_lookup(const Source *source, guint line, const char **file, guint *file_line)
{
	const Segment *found = NULL;

	for (guint i = 0; i < source->segments->len; i++) {
		const Segment *segment = &g_array_index(source->segments, Segment, i);

		if (segment->text_line > line)
			break;
		found = segment;
	}
	if (line == 0 || found == NULL) {
		*file = g_ptr_array_index(source->files, 0);
		*file_line = 0;
		return;
	}
	*file = g_ptr_array_index(source->files, found->file);
	*file_line = found->file_line + (line - found->text_line);
}

gboolean
nbx_config_source_find(const config_setting_t *setting, guint line, const char **file,
		       guint *file_line)
{
	const Source *source = source_of(setting);

	if (source == NULL || source->files->len == 0)
		return FALSE;
	source_lookup(source, line, file, file_line);
	return TRUE;
}

const char *
nbx_config_source_out_of_range(const config_setting_t *setting)
{
	const Source *source = source_of(setting);

	return source != NULL ? g_hash_table_lookup(source->out_of_range, setting) : NULL;
}
