/* Opening the database: the right flags and pragmas, clear refusals, and
 * the read-only views for `gpulse db info` and `db check`. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/blocks.h"
#include "store/store_int.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How long a writer or reader waits for the other before SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

int store_errno(int sqlite_rc)
{
    switch (sqlite_rc & 0xFF) {
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return -EILSEQ;
    default:
        return -EIO;
    }
}

const char *store_errmsg(struct store *s, int rc)
{
    int last = s->db ? sqlite3_errcode(s->db) : SQLITE_NOMEM;
    if (rc != SQLITE_OK && (last & 0xFF) != (rc & 0xFF)) {
        return sqlite3_errstr(rc);
    }
    return s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
}

/* Why a read-write open failed, in the terms an operator acts on. */
static int explain_cannot_open(const char *path, struct gp_err *err)
{
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", path);
    const char *dir = dirname(copy);
    struct stat st;
    if (stat(dir, &st) != 0) {
        return gp_err_set(err, -ENOENT,
                          "cannot open database '%s': directory '%s' does not exist (create it, "
                          "or set database in the configuration)",
                          path, dir);
    }
    if (access(dir, W_OK) != 0 || (access(path, F_OK) == 0 && access(path, W_OK) != 0)) {
        return gp_err_set(err, -EACCES, "cannot open database '%s': permission denied", path);
    }
    return gp_err_set(err, -EIO, "cannot open database '%s'", path);
}

/* The files SQLite keeps beside the database, and what they are called in
 * messages. */
static const struct {
    const char *suffix;
    const char *what;
} companions[] = {
    { "", "database" },
    { "-wal", "database WAL" },
    { "-shm", "database shared-memory file" },
    { "-journal", "database journal" },
};

/* Refuses a database, or a file beside it, that is a symbolic link or not a
 * regular file: the agent runs as root and must not write through a link
 * planted there. With create, makes a missing database FILEIO_PRIVATE_MODE
 * with group gid before SQLite would make it with the umask's mode. */
static int prepare_files(const char *path, bool create, gid_t gid, struct gp_err *err)
{
    for (size_t i = 0; i < GP_ARRAY_LEN(companions); i++) {
        char name[600];
        snprintf(name, sizeof(name), "%s%s", path, companions[i].suffix);
        int rc = fileio_check_regular(name, companions[i].what, err);
        if (rc) {
            return rc;
        }
    }
    if (!create || access(path, F_OK) == 0) {
        return 0; /* an existing database keeps its mode and group */
    }
    int fd = -1;
    int rc = fileio_open_private(path, "database", gid, &fd, NULL, err);
    if (rc == -ENOENT || rc == -EACCES) {
        return explain_cannot_open(path, err);
    }
    if (rc == 0) {
        close(fd);
    }
    return rc;
}

/* SQLite resolves links in the path when it opens the file (and opens its
 * WAL and shm with O_NOFOLLOW): a link planted at path between the check
 * and the open shows in the name it resolved, which then differs from the
 * resolved directory and path's own last part. Refused before anything is
 * read or written. */
static int check_opened(struct store *s, const char *path, struct gp_err *err)
{
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", path);
    char base[512];
    snprintf(base, sizeof(base), "%s", basename(copy));
    snprintf(copy, sizeof(copy), "%s", path);
    char *dir = realpath(dirname(copy), NULL);
    const char *opened = sqlite3_db_filename(s->db, "main");
    int rc = 0;
    if (dir && opened) {
        char expected[1100];
        snprintf(expected, sizeof(expected), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, base);
        if (strcmp(expected, opened) != 0) {
            rc = gp_err_set(err, -ELOOP,
                            "refusing database '%s': it is a symbolic link, which gpulse never "
                            "follows there (remove it)",
                            path);
        }
    }
    free(dir);
    return rc;
}

/* SQLite makes the WAL and shm with the database's mode bits (and, as root,
 * its owner and group), but with the process's group otherwise: they are
 * given database_group too, once they exist (after the first write). */
static int adopt_group(const char *path, gid_t gid, struct gp_err *err)
{
    for (size_t i = 1; i < 3 && gid != (gid_t)-1; i++) {
        char name[600];
        snprintf(name, sizeof(name), "%s%s", path, companions[i].suffix);
        int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
            continue; /* not made yet: SQLite gives it the database's group as root */
        }
        struct stat st;
        int rc = 0;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_gid != gid &&
            fchown(fd, (uid_t)-1, gid) != 0) {
            rc = gp_err_set(err, -errno, "cannot give %s '%s' to group %lu (database_group): %s",
                            companions[i].what, name, (unsigned long)gid, strerror(errno));
        }
        close(fd);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/* Before anything is written: SQLite's quick_check reads every page of
 * every table and index once (not the indexes against the tables, as
 * integrity_check does), so a damaged page anywhere (which the writer,
 * retention or the incremental vacuum could meet and build on) refuses
 * the file with SQLite's own words. It costs a read of the whole file:
 * docs/performance.md measures it (11.5 s a GiB cached, 100 s uncached);
 * the agent pays it at a start after a crash or a change to the file since
 * its last clean stop (agent/clean_stop.h), db prune and db rebuild always,
 * the read-only queries never. */
static int check_pages(struct store *s, struct gp_err *err)
{
    uint64_t t0_us = clock_monotonic_us();
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    const char *problem = NULL;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        problem = line && strcmp(line, "ok") != 0 ? line : NULL;
        rc = SQLITE_OK;
    }
    int e = 0;
    if (problem || rc != SQLITE_OK) {
        /* "*** in database main ***\nPage 448: ...": the page, on one line */
        char what[200];
        snprintf(what, sizeof(what), "%s", problem ? problem : store_errmsg(s, rc));
        char *body = strstr(what, "***\n");
        body = body ? body + 4 : what;
        for (char *c = body; *c; c++) {
            *c = *c == '\n' ? ' ' : *c;
        }
        e = gp_err_set(err, -EILSEQ,
                       "database '%s' is damaged (SQLite: %s); refusing to write to it, the file "
                       "was left as it is (gpulse db check names the damage; see "
                       "docs/storage.md, \"A damaged database\")",
                       s->path, body);
    }
    sqlite3_finalize(st);
    struct stat fst;
    log_info("store", "'%s': %.0f MiB checked page by page in %.1f s before writing", s->path,
             stat(s->path, &fst) == 0 ? (double)fst.st_size / 1048576.0 : 0.0,
             (double)(clock_monotonic_us() - t0_us) / 1e6);
    return e;
}

/* Opens s->path in s->mode into s->db after the checks on the files (and,
 * to write, making a missing database private), group resolved into *gid. */
static int open_connection(struct store *s, const char *group, gid_t *gid, struct gp_err *err)
{
    const char *path = s->path;
    bool write = s->mode == STORE_READ_WRITE;
    if (!write && access(path, F_OK) != 0) {
        return gp_err_set(err, -ENOENT, "database '%s' does not exist (has the agent run?)", path);
    }
    int rc = fileio_group_lookup(group, gid, err);
    if (rc == 0) {
        rc = prepare_files(path, write, *gid, err);
    }
    if (rc) {
        return rc;
    }
    int flags = write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    int src = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK) {
        return check_opened(s, path, err);
    }
    return write ? explain_cannot_open(path, err)
                 : gp_err_set(err, store_errno(src), "cannot open database '%s': %s", path,
                              s->db ? store_errmsg(s, src) : "out of memory");
}

int store_open(const char *path, enum store_mode mode, struct store **out, struct gp_err *err)
{
    return store_open_private(path, mode, NULL, false, out, err);
}

int store_open_private(const char *path, enum store_mode mode, const char *group,
                       bool unchanged_since_clean_stop, struct store **out, struct gp_err *err)
{
    struct store *s = xcalloc(1, sizeof(*s));
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->mode = mode;
    s->activity_threshold_pct = 1.0;
    gid_t gid = (gid_t)-1;
    int rc = open_connection(s, group, &gid, err);
    if (rc) {
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

    /* First read: a file that is not a database (or is damaged) fails here,
     * before anything is written to it. */
    int version = 0;
    rc = store_schema_version(s, &version, err);
    if (rc == -EILSEQ) {
        rc = gp_err_set(err, -EILSEQ,
                        "'%s' is not a gpulse database or is corrupt; refusing to use it, the "
                        "file was left as it is",
                        path);
        goto fail;
    }
    if (rc) {
        goto fail;
    }
    rc = store_schema_check(s, version, err);
    if (rc == 0 && mode == STORE_READ_WRITE && version > 0 && !unchanged_since_clean_stop) {
        rc = check_pages(s, err);
    }
    if (rc) {
        goto fail;
    }
    if (mode == STORE_READ_ONLY && version < STORE_SCHEMA_VERSION) {
        rc = gp_err_set(err, -EPROTO,
                        "database '%s' has schema version %d, older than this gpulse's %d: start "
                        "the agent (or run gpulse db rebuild) once to upgrade it",
                        path, version, STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (mode == STORE_READ_ONLY) {
        /* Readers (the CLI, later the web server) keep a year of hour rows
         * of several GPUs in SQLite's cache instead of reading each page
         * from the OS again; the pages are only held while they are used. */
        sqlite3_exec(s->db, "PRAGMA cache_size = -16384", NULL, NULL, NULL);
        *out = s;
        return 0;
    }
    char *msg = NULL;
    /* Space freed by retention comes back in small incremental steps. This
     * only takes on a new file, before the journal mode writes its header. */
    if (version == 0 &&
        sqlite3_exec(s->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, &msg) != SQLITE_OK) {
        rc = gp_err_set(err, -EIO, "cannot set up database '%s': %s", path,
                        msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    /* WAL: readers (the CLI, the web server) never block the writer. NORMAL
     * sync: a power cut may lose the last transaction, never corrupt. */
    if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL,
                     &msg) != SQLITE_OK) {
        rc = gp_err_set(err, -EIO, "cannot set up database '%s': %s", path,
                        msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    /* The WAL and shm stay after the last close (emptied: store_close), so
     * that the history's readers who may read them (database_group) but
     * not create files in the directory can open the file while no agent
     * runs; SQLite needs both to read a WAL database. */
    int persist = 1;
    sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    rc = store_schema_migrate(s, err);
    if (rc == 0) {
        rc = adopt_group(path, gid, err);
    }
    if (rc) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s) {
        return;
    }
    store_writer_fini(s);
    store_rollup_fini(s);
    if (s->mode == STORE_READ_WRITE && s->db) {
        /* The last close checkpoints; the persistent WAL is then cut to
         * nothing instead of keeping its largest size on disk. */
        sqlite3_exec(s->db, "PRAGMA journal_size_limit = 0", NULL, NULL, NULL);
    }
    sqlite3_close(s->db);
    free(s);
}

const char *store_path(const struct store *s)
{
    return s->path;
}

static int64_t query_int(struct store *s, const char *sql, int64_t fallback)
{
    sqlite3_stmt *st = NULL;
    int64_t v = fallback;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int store_read_info(struct store *s, struct store_info *out, struct gp_err *err)
{
    *out = (struct store_info){ 0 };
    if (store_schema_version(s, &out->schema_version, err) != 0) {
        return -EIO;
    }
    out->file_bytes = file_size(s->path);
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", s->path);
    out->wal_bytes = file_size(wal);
    out->free_pages = query_int(s, "PRAGMA freelist_count", 0);

    static const struct {
        const char *name;
        const char *count;
        const char *first;
        const char *last;
    } tables[] = {
        { "gpus", "SELECT count(*) FROM gpus", "SELECT min(first_seen) FROM gpus",
          "SELECT max(last_seen) FROM gpus" },
        /* raw samples: counted in their blocks (a row per GPU per minute) */
        { "samples", "SELECT coalesce(sum(samples), 0) FROM sample_blocks",
          "SELECT min(t_first) FROM sample_blocks", "SELECT max(t_last) FROM sample_blocks" },
        { "processes", "SELECT count(*) FROM processes", "SELECT min(first_seen) FROM processes",
          "SELECT max(last_seen) FROM processes" },
        { "process_samples", "SELECT coalesce(sum(samples), 0) FROM process_blocks",
          "SELECT min(t_first) FROM process_blocks", "SELECT max(t_last) FROM process_blocks" },
        { "rollup_minute", "SELECT count(*) FROM rollup_minute", "SELECT min(t) FROM rollup_minute",
          "SELECT max(t) FROM rollup_minute" },
        { "rollup_hour", "SELECT count(*) FROM rollup_hour", "SELECT min(t) FROM rollup_hour",
          "SELECT max(t) FROM rollup_hour" },
        { "rollup_day", "SELECT count(*) FROM rollup_day", "SELECT min(t) FROM rollup_day",
          "SELECT max(t) FROM rollup_day" },
        { "activity_day", "SELECT count(*) FROM activity_day WHERE gpu = 0",
          "SELECT min(day) FROM activity_day", "SELECT max(day) FROM activity_day" },
    };
    _Static_assert(GP_ARRAY_LEN(tables) <= GP_ARRAY_LEN(out->tables), "room for each table");
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        out->tables[i] = (struct store_table_info){
            .name = tables[i].name,
            .rows = query_int(s, tables[i].count, 0),
            .first_ms = query_int(s, tables[i].first, 0),
            .last_ms = query_int(s, tables[i].last, 0),
        };
    }
    out->table_count = sizeof(tables) / sizeof(tables[0]);
    return 0;
}

int store_check(struct store *s, bool *ok, struct gp_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot check '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    *ok = true;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") != 0) {
            if (*ok) {
                gp_err_set(err, -EILSEQ, "'%s': %s", s->path, line);
            }
            *ok = false;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        /* integrity_check gave up ("malformed") where its cross-check met
         * the damage; quick_check, which only walks the pages, still names
         * the page as it does at the agent's start. */
        *ok = false;
        gp_err_set(err, store_errno(rc), "'%s': %s", s->path, store_errmsg(s, rc));
        if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            const char *line = (const char *)sqlite3_column_text(st, 0);
            if (line && strcmp(line, "ok") != 0) {
                /* "*** in database main ***\nPage 448: ...": the page */
                const char *body = strstr(line, "***\n");
                gp_err_set(err, -EILSEQ, "'%s': database disk image is malformed: %s", s->path,
                           body ? body + 4 : line);
                for (char *c = err ? err->msg : NULL; c && *c; c++) {
                    *c = *c == '\n' ? ' ' : *c;
                }
            }
        }
        sqlite3_finalize(st);
        return 0;
    }
    /* Every raw-sample block must decode too. */
    int64_t bad = 0;
    struct gp_err first = { 0 };
    rc = store_blocks_check(s, &bad, &first);
    if (rc != SQLITE_OK) {
        gp_err_set(err, store_errno(rc), "'%s': %s", s->path, store_errmsg(s, rc));
    } else if (bad > 0 && *ok) {
        gp_err_set(err, -EILSEQ, "%s (%lld damaged block%s in all)", first.msg, (long long)bad,
                   bad == 1 ? "" : "s");
    }
    *ok = *ok && rc == SQLITE_OK && bad == 0;
    return 0;
}

int store_put_meta(struct store *s, const char *key, const char *value, struct gp_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return gp_err_set(err, store_errno(rc), "cannot write to '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    return 0;
}

int store_get_meta(struct store *s, const char *key, char *buf, size_t size)
{
    buf[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_errno(rc);
}
