/* Recognising the container or batch job a process runs in from the text of
 * /proc/PID/cgroup (cgroup v1 and v2, systemd and cgroupfs drivers). */
#ifndef GPULSE_PROC_CGROUP_H
#define GPULSE_PROC_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

/* What the cgroup path says about a process; empty strings when unknown. */
struct proc_container {
    char runtime[16];   /* "docker", "containerd", "cri-o", "podman", "cri" (runtime not named) */
    char id[72];        /* container id, as the runtime prints it (64 hex digits) */
    char pod_uid[40];   /* Kubernetes pod UID, dashed form */
    char slurm_job[24]; /* Slurm job id */
};

/* Fills out from the content of a /proc/PID/cgroup file (lines of
 * "hierarchy:controllers:path"). Unknown layouts leave out empty; text that
 * is not cgroup lines is ignored line by line, never an error. */
void proc_cgroup_parse(const char *text, struct proc_container *out);

/* True when the process was found to be in a container, pod or job. */
bool proc_container_is_set(const struct proc_container *c);

/* A short label for tables: "slurm:1234", "docker:0123456789ab",
 * "k8s:pod-uid", or "" when none. Writes at most size bytes. */
void proc_container_label(const struct proc_container *c, char *buf, size_t size);

#endif
