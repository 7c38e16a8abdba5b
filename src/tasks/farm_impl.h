/* SPDX-License-Identifier: BSD-3-Clause */
/* Private declarations of `sluice farm`: the journal (journal.c), packed
 * output logs (output.c) and the command (cli.c). */
#ifndef SLUICE_FARM_IMPL_H
#define SLUICE_FARM_IMPL_H
#include "tasks_impl.h"

/* What the journal says about one task. */
typedef struct {
    int prior;   /* attempts recorded before this run */
    int used;    /* failed attempts since the last final failure (interrupted
                    ones are no failure): --retries bounds them across runs */
    char done;   /* succeeded once */
    char failed; /* finally failed */
    char retry;  /* failed, and planned for a retry by a --retry-failed run
                    (the journal's #retry-failed line) that has not yet
                    finished it: not failed until it fails again */
} farm_task_state_t;

typedef struct {
    int64_t id;
    int attempt, rank, code, final;
    const char *host, *result; /* result: ok|exit|signal|timeout|interrupted */
    double start, end;         /* seconds since the epoch */
} farm_record_t;

uint64_t farm_hash(const char *buf, size_t len);
/* The hash of journals from before FNV-1a's offset basis was corrected. */
uint64_t farm_hash_old(const char *buf, size_t len);
/* Read a whole file (NUL-terminated); errors name the file. */
sl_status_t farm_read_file(const char *path, char **buf_p, size_t *len_p);
/* Read a journal into ts[ntasks]; refuse one for another file unless force.
 * *torn_p: bytes of a torn last line (0: none), which the caller cuts off
 * (ftruncate) before appending, so that the next run does not see it.
 * *bad_p: complete lines that are no record (a torn line an earlier version
 * closed with a newline), ignored; *bad_line_p: the first one's number. The
 * caller says so and rewrites the journal without them. */
sl_status_t farm_journal_load(const char *path, uint64_t hash, uint64_t old_hash, int64_t ntasks, int force,
                              farm_task_state_t *ts, int *exists_p, int *needs_header_p, size_t *torn_p,
                              int *bad_p, int *bad_line_p);
/* Rewrite the journal at path without its broken lines (and a torn last
 * line): PATH.tmp written, fsync'd, locked and renamed over it; *fd_p, the
 * old file's descriptor, is closed and replaced by the new one's (O_APPEND).
 * 0, or -1 with why[whylen] said (path is then as it was). */
int farm_journal_rewrite(const char *path, int *fd_p, char *why, size_t whylen);
sl_status_t farm_journal_header(int fd, const char *path, uint64_t hash, int64_t ntasks, const char *file);
/* The line a --retry-failed run writes before its first task: every task
 * finally failed before it is to be run again, by this run or, should it be
 * stopped, by the runs that resume it (with --retry-failed or without). */
#define FARM_RETRY_LINE "#retry-failed"
sl_status_t farm_journal_retry_mark(int fd, const char *path);
/* A record; an error is not printed but put in msg (see farm_write_msg). */
sl_status_t farm_journal_record(int fd, const char *path, const farm_record_t *r, char *msg, size_t msglen);
sl_status_t farm_write_all(int fd, const char *buf, size_t len, const char *what);
/* The same, the message put in msg[msglen] instead of printed (the farm
 * says once what every rank met alike: a full file system). */
sl_status_t farm_write_msg(int fd, const char *buf, size_t len, const char *what, char *msg, size_t msglen);
/* The same without a message: 0, or -1 with errno set. */
int farm_write_quiet(int fd, const char *buf, size_t len);

/* Packed output: DIR/rank-R.log holds the bytes, DIR/rank-R.idx one line per
 * stream of each attempt: id attempt stream offset length end (seconds since
 * the epoch: attempt numbers restart with another journal, so the newest
 * record, not the highest attempt, is a task's latest output). */
typedef struct {
    int log_fd, idx_fd;
    char log_path[4096], idx_path[4096];
} farm_out_t;
sl_status_t farm_out_open(farm_out_t *o, const char *dir, int rank);
void farm_out_close(farm_out_t *o);
/* Append the content of fd (from offset 0) as one stream of an attempt; a
 * write error is put in msg[msglen], not printed. */
sl_status_t farm_out_append(farm_out_t *o, int64_t id, int attempt, const char *stream, int fd, double end,
                            char *msg, size_t msglen);
/* Print the latest attempt's output of task id from DIR to stdout/stderr. */
sl_status_t farm_out_show(const char *dir, int64_t id);
#endif
