/* libFuzzer target: the /proc parsers (cgroup, stat, status, /proc/stat)
 * on arbitrary text, as a hostile or odd kernel could present it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc/cgroup.h"
#include "proc/procinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    struct proc_container c;
    proc_cgroup_parse(text, &c);
    char label[96];
    proc_container_label(&c, label, sizeof(label));
    if (strlen(c.id) >= sizeof(c.id) || strlen(label) >= sizeof(label)) {
        __builtin_trap();
    }
    /* The sanitizers are the oracle: each parser accepts or refuses. */
    uint64_t ticks = 0;
    uint32_t uid = 0;
    int64_t btime = 0;
    volatile uint64_t sink = 0;
    if (proc_stat_start_ticks(text, &ticks) == 0) {
        sink += ticks;
    }
    if (proc_status_uid(text, &uid) == 0) {
        sink += uid;
    }
    if (proc_boot_time(text, &btime) == 0) {
        sink += (uint64_t)btime;
    }
    (void)sink;
    free(text);
    return 0;
}
