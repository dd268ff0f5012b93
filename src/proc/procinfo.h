/* Who runs a process: user, command, start time and container, read from
 * /proc (or a copy of the host's /proc mounted elsewhere, since NVML
 * reports host PIDs even to an agent inside a container). */
#ifndef GPULSE_PROC_PROCINFO_H
#define GPULSE_PROC_PROCINFO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc/cgroup.h"
#include "util/common.h"

#define PROC_DEFAULT_ROOT "/proc"

/* What /proc says about one process lifetime. The reader makes one per
 * lifetime and shares it, reference-counted, with every snapshot that
 * shows the process: a tick copies a pointer, not the attribution. */
struct proc_info {
    atomic_uint refs;      /* holders; 0 for one not counted (proc_info_none, or the
                              caller's own storage): hold and release leave it alone */
    bool found;            /* /proc had this PID; the rest is empty when not */
    bool has_uid;          /* uid and user are meaningful */
    uint32_t uid;          /* real uid */
    char user[64];         /* user name, or the uid as digits when it has none */
    char comm[32];         /* kernel command name (/proc/PID/comm) */
    char cmdline[1024];    /* arguments joined by spaces, cut at the buffer */
    uint64_t start_ticks;  /* start time in clock ticks after boot: with the PID, a
                              process identity that survives PID reuse */
    int64_t start_time_ms; /* start time, Unix epoch milliseconds (0 if unknown) */
    struct proc_container container;
};

/* The attribution of a process /proc does not show (gone, or hidden by
 * hidepid): found is false, the rest empty. Not counted. */
extern const struct proc_info proc_info_none;

/* A zeroed, counted proc_info holding one reference, for the caller to fill
 * before sharing it; give it back with proc_info_release(). */
struct proc_info *proc_info_new(void);

/* Adds a reference to pi and returns it; NULL and uncounted ones are
 * returned as they are. Safe from any thread. */
const struct proc_info *proc_info_hold(const struct proc_info *pi);

/* Gives a reference back; the last frees it. NULL and uncounted ones are
 * left alone. Safe from any thread. */
void proc_info_release(const struct proc_info *pi);

/* pi, or &proc_info_none when pi is NULL (a process nobody attributed). */
const struct proc_info *proc_info_or_none(const struct proc_info *pi);

struct proc_cache_entry;

/* Reads processes under one /proc root. It keeps the boot time, its read
 * buffers, and what it learnt about each process lifetime, so a process
 * seen again costs no read of its files: under our own /proc, a pidfd per
 * process says when it exits (one epoll_wait per round for them all);
 * under another root (a host's /proc in a container, a fixture), a
 * descriptor of /proc/PID is kept, whose lookups fail once that process is
 * gone even if its PID was reused. */
struct proc_reader {
    char root[256];                 /* e.g. "/proc", or "/host/proc" inside a container */
    char passwd[300];               /* the host's passwd file when root is not our /proc
                                       (ROOT/1/root/etc/passwd); "" to ask getpwuid_r */
    int64_t btime_s;                /* boot time, Unix seconds; 0 if /proc/stat lacked it */
    long ticks_per_s;               /* sysconf(_SC_CLK_TCK) */
    char *buf;                      /* scratch for stat, status and cgroup text */
    struct proc_cache_entry *cache; /* owned; one entry per live process seen */
    size_t cache_len;
    size_t cache_cap;
    uint64_t generation; /* bumped by proc_reader_sweep() */
    int epoll_fd;        /* watches the pidfds; -1 when root is not our own /proc */
    bool round_started;  /* this round's exits were collected and its time taken */
    uint64_t round_ms;   /* monotonic time the round started */
};

/* How long cached attribution is trusted before the files are read again
 * (a process can change its command line or be moved to another cgroup). */
#define PROC_CACHE_REFRESH_MS 30000

/* Prepares a reader for root (PROC_DEFAULT_ROOT when NULL). Returns 0, or
 * -errno with err naming the path when root is not a readable /proc.
 * Release with proc_reader_fini(). */
GP_NODISCARD int proc_reader_init(struct proc_reader *r, const char *root, struct gp_err *err);

/* Frees the reader's buffers and gives back its references; a zeroed
 * reader is a no-op. Attribution still held elsewhere stays valid. */
void proc_reader_fini(struct proc_reader *r);

/* What /proc says about pid, shared: a reference the caller owns and gives
 * back with proc_info_release(). Never NULL. A PID that does not exist, or
 * that /proc hides from us, is no error: &proc_info_none (found false), and
 * NVML's facts stand. A process that was read and has since exited keeps
 * what was learnt of it (user, command, container, start time) for as
 * long as it is asked about each round, as the driver lists an exited
 * process for a few seconds more. User names come from the host's user
 * database: getpwuid_r under our own /proc, else the passwd file of the
 * root's PID 1 (ROOT/1/root/etc/passwd), else the uid as digits. */
const struct proc_info *proc_reader_take(struct proc_reader *r, uint32_t pid);

/* Forgets the processes not read since the previous sweep; call once per
 * round of reads so the cache holds only live processes. */
void proc_reader_sweep(struct proc_reader *r);

/* Parses the text of /proc/PID/stat: the start time in ticks (field 22).
 * The command name in parentheses may hold spaces and ')' itself, so the
 * fields are counted from the last ')'. Returns 0 or -EINVAL. */
GP_NODISCARD int proc_stat_start_ticks(const char *stat_text, uint64_t *ticks);

/* Parses "Uid:\t<real>\t..." out of /proc/PID/status text. Returns 0 or -EINVAL. */
GP_NODISCARD int proc_status_uid(const char *status_text, uint32_t *uid);

/* Parses "btime <seconds>" out of /proc/stat text. Returns 0 or -EINVAL. */
GP_NODISCARD int proc_boot_time(const char *stat_text, int64_t *btime_s);

#endif
