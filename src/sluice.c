/* SPDX-License-Identifier: BSD-3-Clause */
/* The `sluice` driver: initialises MPI, finds the command and runs it. It
 * only parses the command name; each command parses its own options from
 * its table in the library. Exit statuses: 0 success, 1 error, 2 usage,
 * 75 stopped by a signal (re-run to resume). */
#include "config.h"
#include "sluice.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const sl_command_t commands[] = {
    {"farm", "run a file of shell commands over all ranks, with a journal to resume", sl_cmd_farm},
    {"demo", "show the core at work: ranks, nodes, a checkpoint, progress", sl_cmd_demo},
    {"train", "train a neural network data-parallel (checkpoints, resume)", sl_cmd_train},
    {"predict", "batch inference with a trained model over all ranks", sl_cmd_predict},
    {"data", "import datasets: data import-idx | import-csv", sl_cmd_data},
    {"gensort", "generate sortbenchmark.org records (gensort 1.5 compatible)", sl_cmd_gensort},
    {"sort", "distributed external sort of fixed-size records (100 bytes by default) over UCX", sl_cmd_sort},
    {"valsort", "validate sorted records (valsort 1.5 compatible)", sl_cmd_valsort},
    {"rl", "reinforcement learning: PPO and DD-PPO on classic-control environments", sl_cmd_rl},
    {"tune", "tune hyperparameters: ASHA, HyperBand, median stopping, PBT over trials on rank groups",
     sl_cmd_tune},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice <command> [options]\n"
               "       sluice help <command> | --help | --version\n\n"
               "Runs as ranks of one MPI job: mpirun -np N sluice ..., or srun --mpi=pmix sluice ...\n\n"
               "commands:\n");
    for (const sl_command_t *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(
        f,
        "\nexit status: 0 success, 1 error, 2 usage error, %d stopped by a signal (re-run to resume: sort, "
        "tune, train and rl train with --resume)\n",
        SL_EXIT_STOPPED);
}

static const sl_command_t *find(const char *name)
{
    for (const sl_command_t *c = commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

/* A job on one node: Open MPI's shared-memory transport (pml ob1 over the
 * vader BTL) starts about 0.2 s sooner per job than its UCX pml and is as
 * fast for our messages on one node; the sort's data goes over UCX itself
 * either way. mpirun tells each rank the job's size and its node's size
 * before MPI_Init; where those differ, where they are unknown (srun), or
 * where the user chose a pml (OMPI_MCA_pml, --mca pml, SLUICE_MPI_PML=keep),
 * nothing changes. */
static void prefer_shm_on_one_node(void)
{
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE"), *world = getenv("OMPI_COMM_WORLD_SIZE");
    const char *keep = getenv("SLUICE_MPI_PML");
    if (!local || !world || strcmp(local, world) != 0 || getenv("OMPI_MCA_pml") || (keep && !strcmp(keep, "keep")))
        return;
    setenv("OMPI_MCA_pml", "ob1", 0);
}

/* Open MPI's MPI_Finalize ends with an exchange with the PMIx server
 * (mpirun's, or the node daemon's) over a TCP socket on which the PMIx
 * client leaves Nagle's algorithm on: its second small message waits for
 * the server's delayed acknowledgement, and every job's end took 40 ms more
 * (a quarter of a short job's wall time here). Setting TCP_NODELAY on that
 * one socket, found by the server's port in PMIX_SERVER_URI*, removes the
 * wait; it changes nothing else. Unix sockets (some Slurm setups) have no
 * such wait and are left alone. */
static void pmix_socket_nodelay(void)
{
    const char *vars[] = {"PMIX_SERVER_URI41", "PMIX_SERVER_URI4", "PMIX_SERVER_URI3", "PMIX_SERVER_URI21",
                          "PMIX_SERVER_URI2"};
    const char *uri = NULL;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0] && !uri; i++)
        uri = getenv(vars[i]);
    const char *colon = uri && strstr(uri, "tcp") ? strrchr(uri, ':') : NULL;
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (port <= 0 || port > 65535)
        return;
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_storage a;
        socklen_t len = sizeof a;
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
            getpeername(fd, (struct sockaddr *)&a, &len) != 0)
            continue;
        int p = a.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&a)->sin_port)
                : a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
                                          : -1;
        int one = 1;
        if (p == port)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

int main(int argc, char **argv)
{
    int provided, rank, size, code;
    /* The stop flag's handlers go in first: a SIGUSR1 or SIGTERM that comes
     * while MPI starts (Slurm's --signal, a user's scancel --signal, mpirun
     * forwarding it as soon as the ranks exist) killed the rank with the
     * signal's default action, not a stop with 75, and mpirun could then
     * wait for it for good. A stop asked for this early ends the command at
     * its first safe point. Installed again after MPI_Init (below), which
     * names an error, and in case MPI took a handler over. */
    sl_signal_install_early();
    prefer_shm_on_one_node();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    sl_log_set_rank(rank, size);
    sl_log_init_env();
    sl_progress_check_env();

    if (argc < 2) {
        if (rank == 0) { /* a usage error ends with its one error line, as elsewhere */
            usage(stderr);
            fprintf(stderr, "sluice: error: missing command (see 'sluice --help')\n");
        }
        code = SL_EXIT_USAGE;
        goto out;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || (!strcmp(cmd, "help") && argc == 2)) {
        if (rank == 0)
            usage(stdout);
        code = 0;
        goto out;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        if (rank == 0)
            printf("sluice %s\n", sl_version());
        code = 0;
        goto out;
    }
    if (!strcmp(cmd, "help")) {
        const sl_command_t *c = find(argv[2]);
        if (!c) {
            if (rank == 0)
                fprintf(stderr, "sluice: error: unknown command '%s' (see 'sluice --help')\n", argv[2]);
            code = SL_EXIT_USAGE;
            goto out;
        }
        /* `sluice help data import-csv`: the subcommand's help */
        char *hargv[] = {argv[2], argc > 3 ? argv[3] : "--help", "--help", NULL};
        code = sl_status_exit_code(c->fn(MPI_COMM_WORLD, argc > 3 ? 3 : 2, hargv));
        goto out;
    }
    const sl_command_t *c = find(cmd);
    if (!c) {
        if (rank == 0)
            fprintf(stderr, "sluice: error: unknown command '%s' (see 'sluice --help')\n", cmd);
        code = SL_EXIT_USAGE;
        goto out;
    }
    sl_status_t st = sl_check_launch(MPI_COMM_WORLD);
    if (st == SL_OK)
        st = sl_signal_install();
    if (st == SL_OK)
        st = c->fn(MPI_COMM_WORLD, argc - 1, argv + 1);
    code = sl_status_exit_code(st);
    if (st == SL_ERR_STOPPED && rank == 0) {
        /* sort, tune, train and rl start afresh without --resume (tune even
         * refuses an EXPDIR that holds an experiment); farm and demo resume
         * by themselves */
        int needs =
            !strcmp(cmd, "sort") || !strcmp(cmd, "tune") || !strcmp(cmd, "train") || !strcmp(cmd, "rl");
        for (int i = 2; i < argc && needs; i++)
            if (!strcmp(argv[i], "--resume") || (!strcmp(cmd, "train") && !strcmp(argv[i], "-r")))
                needs = 0;
        /* gensort and valsort keep nothing of a stopped run: a rerun starts over */
        if (!strcmp(cmd, "gensort") || !strcmp(cmd, "valsort"))
            fprintf(
                stderr,
                "sluice: stopped by a signal, nothing written; run the same command again, which starts over "
                "(exit status %d)\n",
                SL_EXIT_STOPPED);
        else
            fprintf(stderr,
                    "sluice: stopped by a signal; run the same command again%s to resume (exit status %d)\n",
                    needs ? " with --resume" : "", SL_EXIT_STOPPED);
    }
out:
    fflush(stdout);
    pmix_socket_nodelay();
    MPI_Finalize();
    return code;
}
