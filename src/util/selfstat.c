#include "util/selfstat.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util/fileio.h"

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static double boot_time_s; /* /proc/stat btime; 0 unknown */

static void read_boot_time(void)
{
    static char buf[64 * 1024];
    int truncated = 0;
    if (fileio_read_capped("/proc/stat", buf, sizeof(buf) - 1, &truncated) <= 0) {
        return;
    }
    const char *p = strstr(buf, "\nbtime ");
    if (p) {
        boot_time_s = strtod(p + 7, NULL);
    }
}

static int64_t count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        return -1;
    }
    int64_t n = 0;
    const struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(dir);
    return n - 1; /* the directory's own */
}

/* Field k (1-based, as proc(5) numbers them) of /proc/self/stat, counted
 * after the command name, which may hold spaces and parentheses. */
static const char *stat_field(const char *after_comm, int k)
{
    const char *p = after_comm;
    for (int field = 3; field < k && p; field++) {
        p = strchr(p + 1, ' ');
    }
    return p ? p + 1 : NULL;
}

int selfstat_read(struct selfstat *out)
{
    *out = (struct selfstat){ .open_fds = count_open_fds(), .max_fds = -1 };
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        out->max_fds = (int64_t)rl.rlim_cur;
    }
    pthread_once(&boot_once, read_boot_time);
    char buf[1024];
    int truncated = 0;
    long len = fileio_read_capped("/proc/self/stat", buf, sizeof(buf) - 1, &truncated);
    const char *comm_end = len > 0 ? strrchr(buf, ')') : NULL;
    if (!comm_end || comm_end[1] != ' ') {
        return len < 0 ? (int)len : -EINVAL;
    }
    const char *state = comm_end + 1; /* " S ..." : field 3 starts after it */
    const char *f[] = { stat_field(state, 14), stat_field(state, 15), stat_field(state, 22),
                        stat_field(state, 23), stat_field(state, 24) };
    for (size_t i = 0; i < GP_ARRAY_LEN(f); i++) {
        if (!f[i]) {
            return -EINVAL;
        }
    }
    double tick = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    out->cpu_seconds = (strtod(f[0], NULL) + strtod(f[1], NULL)) / tick;
    out->start_time_s = boot_time_s + strtod(f[2], NULL) / tick;
    out->virtual_bytes = strtoll(f[3], NULL, 10);
    out->resident_bytes = strtoll(f[4], NULL, 10) * page;
    return 0;
}
