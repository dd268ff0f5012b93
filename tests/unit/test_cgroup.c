/* Container and job recognition from real /proc/PID/cgroup layouts. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gp_cmocka.h"
#include "proc/cgroup.h"

#define ID     "4f3c9b1e2d7a6c5b8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
#define POD    "8f2c1d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f"
#define POD_US "8f2c1d3e_4a5b_4c6d_9e7f_0a1b2c3d4e5f"

static struct proc_container parse(const char *text)
{
    struct proc_container c;
    proc_cgroup_parse(text, &c);
    return c;
}

static void docker_cgroup_v2_systemd(void **state)
{
    (void)state;
    struct proc_container c = parse("0::/system.slice/docker-" ID ".scope\n");
    assert_string_equal(c.runtime, "docker");
    assert_string_equal(c.id, ID);
    assert_string_equal(c.pod_uid, "");
    char label[96];
    proc_container_label(&c, label, sizeof(label));
    assert_string_equal(label, "docker:4f3c9b1e2d7a");
}

static void docker_cgroup_v1_cgroupfs(void **state)
{
    (void)state;
    struct proc_container c = parse("12:devices:/docker/" ID "\n"
                                    "11:memory:/docker/" ID "\n"
                                    "1:name=systemd:/docker/" ID "\n");
    assert_string_equal(c.runtime, "docker");
    assert_string_equal(c.id, ID);
}

static void kubernetes_containerd_systemd(void **state)
{
    (void)state;
    struct proc_container c =
        parse("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_US
              ".slice/cri-containerd-" ID ".scope\n");
    assert_string_equal(c.runtime, "containerd");
    assert_string_equal(c.id, ID);
    assert_string_equal(c.pod_uid, POD);
    char label[96];
    proc_container_label(&c, label, sizeof(label));
    assert_string_equal(label, "k8s:" POD);
}

static void kubernetes_guaranteed_cgroupfs_v1(void **state)
{
    (void)state;
    struct proc_container c = parse("11:cpuset:/kubepods/pod" POD "/" ID "\n");
    assert_string_equal(c.runtime, "cri");
    assert_string_equal(c.id, ID);
    assert_string_equal(c.pod_uid, POD);
}

static void kubernetes_crio(void **state)
{
    (void)state;
    struct proc_container c =
        parse("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_US
              ".slice/crio-" ID ".scope\n");
    assert_string_equal(c.runtime, "cri-o");
    assert_string_equal(c.pod_uid, POD);
}

static void podman_rootless(void **state)
{
    (void)state;
    struct proc_container c = parse("0::/user.slice/user-1000.slice/user@1000.service/user.slice/"
                                    "libpod-" ID ".scope/container\n");
    assert_string_equal(c.runtime, "podman");
    assert_string_equal(c.id, ID);
}

static void podman_conmon_is_not_the_container(void **state)
{
    (void)state;
    struct proc_container c = parse("0::/machine.slice/libpod-conmon-" ID ".scope\n");
    assert_false(proc_container_is_set(&c));
}

static void slurm_v1_and_v2(void **state)
{
    (void)state;
    struct proc_container c = parse("4:memory:/slurm/uid_1000/job_123456/step_0/task_0\n");
    assert_string_equal(c.slurm_job, "123456");
    c = parse("0::/system.slice/slurmstepd.scope/job_987/step_batch/user/task_0\n");
    assert_string_equal(c.slurm_job, "987");
    char label[96];
    proc_container_label(&c, label, sizeof(label));
    assert_string_equal(label, "slurm:987");
}

static void plain_session_has_no_container(void **state)
{
    (void)state;
    struct proc_container c = parse("0::/user.slice/user-1000.slice/session-3.scope\n");
    assert_false(proc_container_is_set(&c));
    char label[16] = "x";
    proc_container_label(&c, label, sizeof(label));
    assert_string_equal(label, "");
}

static void garbage_is_ignored(void **state)
{
    (void)state;
    struct proc_container c = parse("not a cgroup line\n::\n:\n\n0::/docker/short\n"
                                    "0::/system.slice/docker-" ID "x.scope\n"
                                    "0::/x/job_12a/job_\n");
    assert_false(proc_container_is_set(&c));
    c = parse("");
    assert_false(proc_container_is_set(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(docker_cgroup_v2_systemd),
        cmocka_unit_test(docker_cgroup_v1_cgroupfs),
        cmocka_unit_test(kubernetes_containerd_systemd),
        cmocka_unit_test(kubernetes_guaranteed_cgroupfs_v1),
        cmocka_unit_test(kubernetes_crio),
        cmocka_unit_test(podman_rootless),
        cmocka_unit_test(podman_conmon_is_not_the_container),
        cmocka_unit_test(slurm_v1_and_v2),
        cmocka_unit_test(plain_session_has_no_container),
        cmocka_unit_test(garbage_is_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
