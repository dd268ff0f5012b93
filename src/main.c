/* gpulse: one binary, subcommands. This file only dispatches. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef GPULSE_VERSION
#    define GPULSE_VERSION "0.0.0"
#endif

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "agent", cli_agent_main, "sample every GPU on a schedule and keep the history" },
    { "now", cli_now_main, "show the current state of every GPU and its processes" },
    { "history", cli_history_main, "stored samples for a time range, raw or aggregated" },
    { "processes", cli_processes_main, "who used which GPU: stored process lifetimes" },
    { "activity", cli_activity_main, "daily GPU activity: active minutes, peak, average" },
    { "svg", cli_svg_main, "the activity graph (SVG) to standard output" },
    { "db", cli_db_main, "the history database: info, check, prune, rebuild, raw" },
    { "config", cli_config_main, "check the configuration and print the settings in effect" },
};

/* Flags of the GPU Monitor tool that gpulse replaces, kept working: each
 * becomes a subcommand with the rest of the command line after it. */
static const struct {
    const char *flag;
    const char *argv[4]; /* what it stands for, NULL-terminated */
} aliases[] = {
    { "--show-db", { "db", "info", NULL } },
    { "--dry-run", { "agent", "--dry-run", "--once", NULL } },
    { "--show-collection", { "history", "--step", "raw", "--around" } }, /* TIME follows */
};

static int run_command(int argc, char **argv);

static int run_alias(int argc, char **argv, size_t a)
{
    char *args[64];
    int n = 0;
    for (size_t i = 0; i < 4 && aliases[a].argv[i]; i++) {
        args[n++] = (char *)(uintptr_t)aliases[a].argv[i]; /* getopt does not write them */
    }
    for (int i = 2; i < argc && n < (int)(sizeof(args) / sizeof(args[0])) - 1; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;
    return run_command(n, args);
}

static void usage(FILE *out)
{
    fputs("Usage: gpulse [--version] [--help] COMMAND [OPTIONS]\n"
          "Watch every NVIDIA GPU on this machine and who uses it.\n"
          "\nCommands:\n",
          out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fputs("\nThe GPU Monitor tool's flags work too: --show-db (db info), --dry-run\n"
          "(agent --dry-run --once), --show-collection TIME (the samples within 30 s of\n"
          "TIME), each with --output-format json|csv where the command has formats.\n"
          "\nRun 'gpulse COMMAND --help' for a command's options.\n"
          "Environment: GPULSE_NVML_LIB names the NVML library to load (the simulated one\n"
          "for trying gpulse without a GPU; see sim/README.md).\n",
          out);
}

int main(int argc, char **argv)
{
    /* glibc raises its mmap threshold (up to 32 MiB) each time a block it
     * had mmapped is freed, so that later blocks that large come from the
     * heap and stay in RSS after they are freed. The agent frees such
     * blocks for good (a large answer, the simulator's scenario text): its
     * RSS grew from 9 to 28 MiB in a 30-minute soak while its live heap
     * stayed near 2 MiB. A fixed threshold keeps large blocks mmapped and
     * gives them back when freed (bench/soak.sh, docs/performance.md). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    if (argc < 2) {
        usage(stderr);
        return GP_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return GP_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("gpulse %s\n", GPULSE_VERSION);
        return GP_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strcmp(cmd, aliases[i].flag) == 0) {
            return run_alias(argc, argv, i);
        }
    }
    return run_command(argc - 1, argv + 1);
}

/* argv[0] is the command's name. */
static int run_command(int argc, char **argv)
{
    if (argc < 1 || !argv[0]) {
        usage(stderr);
        return GP_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[0], commands[i].name) == 0) {
            return commands[i].main(argc, argv);
        }
    }
    fprintf(stderr, "gpulse: '%s' is not a command\nTry 'gpulse --help'.\n", argv[0]);
    return GP_EXIT_USAGE;
}
