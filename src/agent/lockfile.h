/* The agent's lock file, "<database>.lock": one agent per database, and
 * the clean-stop mark, what lets a restart skip reading every page of a
 * large database. A clean stop writes into the lock file the identity,
 * size and modification time of the database it closed (and that no WAL
 * is left); the next agent compares them before it opens the file. A
 * crash leaves no mark (the lock file holds the PID while an agent runs),
 * and any write to the file since changes its size or time, so the check
 * (SQLite's quick_check, ~11 s a GiB cached and ~100 s uncached:
 * docs/performance.md) runs whenever the file may have been damaged. */
#ifndef GPULSE_AGENT_LOCKFILE_H
#define GPULSE_AGENT_LOCKFILE_H

#include <stdbool.h>

#include "util/common.h"

struct config;

/* Takes the lock of cfg->database: an exclusive flock on "<database>.lock",
 * which then holds our PID for the message a second agent prints. The file
 * is made like the database (0640, group database_group); a link or other
 * non-file planted there is refused, its target untouched. Returns 0 with
 * the open descriptor in *fd_out (the caller closes it, which releases the
 * lock), -EBUSY naming the PID when another agent holds it, or the
 * negative errno of the open; err says which. */
GP_NODISCARD int agent_lock_take(const struct config *cfg, int *fd_out, struct gp_err *err);

/* True when "<database>.lock" holds a clean-stop mark that matches the
 * database file now (device, inode, size, modification time to the
 * nanosecond) and no non-empty "<database>-wal" exists. False on any doubt:
 * no lock file, a link or non-regular file, no mark, a mismatch. Reads
 * only; takes no lock (the caller takes it next, and a second agent is
 * refused by it before anything is written). */
bool agent_lock_clean_stop_matches(const char *database);

/* Writes the clean-stop mark for database into the held lock file lock_fd
 * (replacing the PID it held), after the database was closed. Writes
 * nothing when the database cannot be stat'ed or a non-empty WAL is left
 * (the close did not checkpoint): the next start then checks every page.
 * Failures are logged at debug level and otherwise ignored. */
void agent_lock_note_clean_stop(int lock_fd, const char *database);

#endif
