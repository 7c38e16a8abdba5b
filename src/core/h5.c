/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 checkpoints and datasets over parallel HDF5 (MPI-IO). Files are
 * written under PATH.tmp and renamed into place only after a collective
 * close and an fsync, so a killed job never leaves a truncated file under a
 * final name; keep > 1 rotates older versions by hard link so PATH always
 * exists. Reads check names, types and shapes and say what differs. A full
 * file system must not hang the job: parallel HDF5 writes its metadata in
 * collective steps (at its sync points and in the close), and a rank whose
 * write fails there leaves the others waiting in a barrier. So before each
 * step that can allocate space in the file, rank 0 has the file system
 * allocate every block up to the file's end of allocation (EOA) plus what
 * the step adds plus ROOM_LEN (fallocate with FALLOC_FL_KEEP_SIZE): HDF5
 * writes nothing beyond its EOA, so its writes then land on blocks already
 * held and cannot fail for want of space, and a file system that fills up
 * is one clear error before the step, on every rank. What was held beyond
 * the file's end is given back after the close. Where the file system has
 * no fallocate, rank 0 holds as much in zeros written to a file of its own
 * (unlinked at once) and frees it just before the close; each step first
 * checks that the file system has room for it (the best we can do: a file
 * system that fills up from elsewhere during a step can still fail it). */
#define _GNU_SOURCE
#include "config.h"
#include "core_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Held beyond the EOA and what a step adds: the metadata one step of ours
 * (a dataset, an attribute) may allocate (object headers, the group's
 * B-tree and heap blocks), with a wide margin. */
#define ROOM_LEN ((off_t)256 << 10)
/* hold()'s `what` before the close */
#define CLOSING "cannot close"
/* Held beyond that when the file system has it, at most: fewer calls. */
#define MORE_MAX ((off_t)64 << 20)

struct sl_h5 {
    MPI_Comm comm;
    int rank, size, writing;
    hid_t file;
    char *path, *tmp;
    int fd;     /* rank 0, writing: the temporary file, for hold(); -1 without fallocate */
    off_t held; /* rank 0: blocks [0, held) are allocated */
    int room;   /* rank 0, without fallocate: an unlinked file of zeros, or -1 */
    off_t room_len;
    int room_sync; /* the room file's writes are only sure once flushed (fdatasync) */
    off_t added; /* rank 0: the raw data of the steps so far (hold()'s extra): a floor of the file's size */
};

/* Whether the file system of fd allocates (or reserves) a file's blocks
 * when it is written, so that a write that succeeded has its blocks and one
 * that has none fails with ENOSPC: the local ones that HDF5 files without
 * fallocate meet (ext2/3/4 without extents: delayed allocation reserves at
 * the write; ramfs; tmpfs and XFS for good measure). Elsewhere (NFS, where
 * the server says ENOSPC only when the pages are flushed; Lustre; any other)
 * the room file is flushed before it counts. An fdatasync of the zeros was a
 * disk flush at every create on ext4, for the often saved experiment.h5 of
 * tune too. */
static int room_at_write(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0)
        return 0;
    switch ((unsigned long)sf.f_type) {
    case 0xEF53UL:     /* ext2, ext3, ext4 */
    case 0x858458F6UL: /* ramfs */
    case 0x01021994UL: /* tmpfs */
    case 0x58465342UL: /* XFS */ return 1;
    default: return 0;
    }
}

/* Rank 0, without fallocate: the room file holds at least `want` bytes of
 * zeros (more when it can) and the file system has `step` bytes free besides.
 * 0, or an errno. */
static int room_hold(sl_h5_t *h, off_t want, off_t step)
{
    static const char zero[1 << 16];
    if (h->room < 0) {
        char name[4200];
        snprintf(name, sizeof name, "%s.room", h->tmp);
        h->room = sl_open_new(name, O_WRONLY | O_CLOEXEC, 0600); /* a spawned program would hold its blocks */
        if (h->room < 0)
            return errno;
        unlink(name); /* its blocks stay held while it is open; none is left behind */
        h->room_len = 0;
        h->room_sync = !room_at_write(h->room);
    }
    off_t to = want + (want / 8 < MORE_MAX ? want / 8 : MORE_MAX), from = h->room_len;
    while (h->room_len < want || (h->room_len > from && h->room_len < to)) {
        size_t n = (size_t)(to - h->room_len) < sizeof zero ? (size_t)(to - h->room_len) : sizeof zero;
        ssize_t w = pwrite(h->room, zero, n, h->room_len);
        if (w > 0) {
            h->room_len += w;
        } else if (errno != EINTR) {
            if (h->room_len >= want && sl_errno_status(errno) == SL_ERR_NOSPACE)
                break; /* no more than wanted */
            return errno;
        }
    }
    if (h->room_len > from && h->room_sync && fdatasync(h->room) != 0 &&
        errno != EINVAL) /* a full NFS server says so here */
        return errno;
    return sl_fs_full(h->tmp, (uint64_t)step) ? ENOSPC : 0;
}

/* Rank 0: free the room file, before a close (which then has that room). */
static void room_give(sl_h5_t *h)
{
    if (h->room >= 0) {
        if (ftruncate(h->room, 0) != 0)
            SL_WARN("cannot free the room held for '%s': %s", h->tmp, strerror(errno));
        close(h->room);
        h->room = -1;
        h->room_len = 0;
    }
}

/* Collective, before a step that adds up to `extra` bytes of raw data to
 * the file (and some metadata): rank 0 holds the blocks up to a bound of
 * the EOA plus extra plus ROOM_LEN (a little more when it can, so that most
 * steps need no call). The EOA itself is not to be had from the MPI-IO
 * driver once it wrote; it is at most the file's size plus the metadata
 * HDF5 holds in its cache (not written yet, so possibly beyond the end).
 * A file system without room is SL_ERR_NOSPACE, said by rank 0 as "WHAT
 * 'PATH.tmp': No space left on device" (or "Disk quota exceeded": a quota
 * is what HPC users meet most, and df shows room then); one where fallocate fails for
 * another cause (EOPNOTSUPP, most often) gets the room file instead, from
 * then on (h->fd is closed). */
static sl_status_t hold(sl_h5_t *h, uint64_t extra, const char *what)
{
    sl_status_t st = SL_OK;
    if (h->rank == 0 && (h->fd >= 0 || h->room >= 0)) {
        struct stat sb;
        size_t cache = 0, unused;
        int n;
        if (h->fd < 0 || fstat(h->fd, &sb) != 0)
            sb.st_size = h->held;
        if (h->file >= 0 && H5Fget_mdc_size(h->file, &unused, &unused, &cache, &n) < 0) {
            H5Eclear2(H5E_DEFAULT);
            cache = (size_t)32 << 20; /* the largest the cache grows by default */
        }
        off_t data = (off_t)(extra < (uint64_t)1 << 60 ? extra : (uint64_t)1 << 60), step = data + ROOM_LEN;
        /* on NFS, rank 0's fstat can lag the writes of other nodes: the
         * data the steps so far added is a floor of the size that does not */
        off_t size = sb.st_size > h->added ? sb.st_size : h->added;
        off_t need = size + (off_t)cache + step;
        h->added = h->added < ((off_t)1 << 61) - data ? h->added + data : h->added;
        int e = 0;
        if (h->fd >= 0 && need > h->held) {
            off_t more = need + (need / 8 < MORE_MAX ? need / 8 : MORE_MAX);
            e = fallocate(h->fd, FALLOC_FL_KEEP_SIZE, h->held, more - h->held) == 0 ? 0 : errno;
            if (e && sl_errno_status(e) == SL_ERR_NOSPACE)
                e = fallocate(h->fd, FALLOC_FL_KEEP_SIZE, h->held, (more = need) - h->held) == 0 ? 0 : errno;
            if (e == 0)
                h->held = more;
            if (e && sl_errno_status(e) != SL_ERR_NOSPACE) { /* the room file instead */
                close(h->fd);
                h->fd = -1;
                h->held = 0;
                e = 0;
            }
        }
        if (h->fd < 0) /* what the close's flush may write beyond the end; the close needs no more */
            e = room_hold(h, (off_t)cache + ROOM_LEN, strcmp(what, CLOSING) ? step : 0);
        if (sl_errno_status(e) == SL_ERR_NOSPACE)
            st = sl_error(SL_ERR_NOSPACE, "%s '%s': %s", what, h->tmp, strerror(e)); /* or a quota's */
        else if (e)
            st = sl_error(SL_ERR_IO, "%s '%s': %s", what, h->tmp, strerror(e));
    }
    return sl_agree(h->comm, st);
}

/* Rank 0, after the close: give back the blocks held beyond the file's
 * end. */
static void hold_release(sl_h5_t *h)
{
    struct stat sb;
    if (h->fd < 0 || fstat(h->fd, &sb) != 0 || h->held <= sb.st_size)
        return;
    if (fallocate(h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, sb.st_size, h->held - sb.st_size) != 0 &&
        ftruncate(h->fd, sb.st_size) != 0) /* frees the blocks beyond the end on most file systems */
        SL_WARN("cannot free the room held beyond the end of '%s': %s", h->tmp, strerror(errno));
    h->held = 0;
}

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *out = data;
    if (n == 0 || out[0] == '\0')
        snprintf(out, 256, "%s", e->desc ? e->desc : "");
    return 0;
}

sl_status_t sl_h5_error(const char *what, const char *path)
{
    int e = errno; /* as the failed call left it: MPI-IO's ENOSPC, often */
    char msg[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, msg);
    H5Eclear2(H5E_DEFAULT);
    if ((strstr(what, "write") || strstr(what, "close")) &&
        (sl_errno_status(e) == SL_ERR_NOSPACE || sl_fs_full(path, (uint64_t)ROOM_LEN)))
        return sl_error(SL_ERR_NOSPACE, "%s '%s': %s", what, path,
                        sl_errno_status(e) == SL_ERR_NOSPACE ? strerror(e) : strerror(ENOSPC));
    return sl_error(SL_ERR_HDF5, "%s '%s': %s", what, path, msg[0] ? msg : "HDF5 error");
}

size_t sl_dtype_size(sl_dtype_t t)
{
    switch (t) {
    case SL_F32: case SL_I32: return 4;
    case SL_F64: case SL_I64: return 8;
    case SL_U8: return 1;
    }
    return 0;
}

const char *sl_dtype_name(sl_dtype_t t)
{
    switch (t) {
    case SL_F32: return "float32";
    case SL_F64: return "float64";
    case SL_I32: return "int32";
    case SL_I64: return "int64";
    case SL_U8: return "uint8";
    }
    return "?";
}

static hid_t native_type(sl_dtype_t t)
{
    switch (t) {
    case SL_F32: return H5T_NATIVE_FLOAT;
    case SL_F64: return H5T_NATIVE_DOUBLE;
    case SL_I32: return H5T_NATIVE_INT32;
    case SL_I64: return H5T_NATIVE_INT64;
    case SL_U8: return H5T_NATIVE_UINT8;
    }
    return H5T_NATIVE_UINT8;
}

static int file_type_to_dtype(hid_t ft, sl_dtype_t *t)
{
    H5T_class_t c = H5Tget_class(ft);
    size_t sz = H5Tget_size(ft);
    if (c == H5T_FLOAT && sz == 4) *t = SL_F32;
    else if (c == H5T_FLOAT && sz == 8) *t = SL_F64;
    else if (c == H5T_INTEGER && sz == 4 && H5Tget_sign(ft) == H5T_SGN_2) *t = SL_I32;
    else if (c == H5T_INTEGER && sz == 8 && H5Tget_sign(ft) == H5T_SGN_2) *t = SL_I64;
    else if (c == H5T_INTEGER && sz == 1 && H5Tget_sign(ft) == H5T_SGN_NONE) *t = SL_U8;
    else return 0;
    return 1;
}

static void shape_str(int ndim, const uint64_t *d, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    if (ndim == 0)
        snprintf(buf, len, "scalar");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? "x%llu" : "%llu", (unsigned long long)d[i]);
}

static sl_status_t h5_alloc(MPI_Comm comm, const char *path, sl_h5_t **h_p)
{
    sl_h5_t *h = calloc(1, sizeof *h);
    if (!h)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    h->file = H5I_INVALID_HID;
    h->fd = h->room = -1;
    MPI_Comm_dup(comm, &h->comm);
    MPI_Comm_rank(h->comm, &h->rank);
    MPI_Comm_size(h->comm, &h->size);
    h->path = strdup(path);
    h->tmp = malloc(strlen(path) + 5);
    if (!h->path || !h->tmp) {
        free(h->path);
        free(h->tmp);
        MPI_Comm_free(&h->comm);
        free(h);
        return sl_error(SL_ERR_NOMEM, "out of memory");
    }
    sprintf(h->tmp, "%s.tmp", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* we report errors ourselves */
    *h_p = h;
    return SL_OK;
}

static void h5_free(sl_h5_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    if (h->room >= 0)
        close(h->room);
    free(h->path);
    free(h->tmp);
    MPI_Comm_free(&h->comm);
    free(h);
}

static hid_t mpio_fapl(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    return fapl;
}

sl_status_t sl_h5_create(MPI_Comm comm, const char *path, sl_h5_t **h_p)
{
    sl_h5_t *h = NULL;
    sl_status_t st = h5_alloc(comm, path, &h);
    int rank, made = 0; /* rank 0 made h->tmp */
    MPI_Comm_rank(comm, &rank);
    if (st == SL_OK && rank == 0) { /* sl_open_new removes a link at the temporary name */
        h->fd = sl_open_new(h->tmp, O_WRONLY | O_CLOEXEC, 0644);
        made = h->fd >= 0;
        if (h->fd < 0)
            st = sl_error(sl_errno_status(errno), "cannot create '%s': %s", h->tmp, strerror(errno));
    }
    st = sl_agree(comm, st);
    if (st == SL_OK) /* room for the first steps, before HDF5 writes anything */
        st = hold(h, 0, "cannot create");
    if (st != SL_OK) {
        if (h) {
            if (made) /* h->fd is closed where hold() went over to the room file */
                unlink(h->tmp);
            h5_free(h);
        }
        return st;
    }
    hid_t fapl = mpio_fapl(h->comm);
    h->file = H5Fcreate(h->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (h->file < 0) {
        /* Same cause on every rank; let rank 0 say it, with errno's words.
         * errno after H5Fcreate is MPI-IO's last (EBADF from a close):
         * rank 0 asks the file system itself. */
        int e = 0, r = 0;
        MPI_Comm_rank(h->comm, &r);
        H5Eclear2(H5E_DEFAULT);
        if (r == 0) {
            int fd = open(h->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
            if (fd < 0)
                e = errno == EEXIST ? 0 : errno;
            else {
                close(fd);
                unlink(h->tmp);
            }
        }
        sl_error_root(h->comm, SL_ERR_IO, "cannot create '%s': %s", h->tmp, e ? strerror(e) : "HDF5 error");
        if (r == 0)
            unlink(h->tmp);
        h5_free(h);
        return SL_ERR_IO;
    }
    h->writing = 1;
    /* H5F_ACC_TRUNC may have freed what was held */
    h->held = 0;
    st = hold(h, 0, "cannot create");
    if (st != SL_OK) {
        sl_h5_discard(&h);
        return st;
    }
    *h_p = h;
    return SL_OK;
}

static hid_t make_lcpl(void)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

/* Create dataset `name`, replacing none: names must be new in this file. */
static sl_status_t create_dset(sl_h5_t *h, const char *name, sl_dtype_t type, int ndim, const uint64_t *dims,
                               hid_t *dset_p, hid_t *fspace_p)
{
    hsize_t hd[SL_H5_MAXDIM];
    if (ndim < 0 || ndim > SL_H5_MAXDIM)
        return sl_error(SL_ERR_INVALID, "'%s': %d dimensions (at most %d)", name, ndim, SL_H5_MAXDIM);
    for (int i = 0; i < ndim; i++)
        hd[i] = dims[i];
    hid_t fspace = ndim ? H5Screate_simple(ndim, hd, NULL) : H5Screate(H5S_SCALAR);
    hid_t lcpl = make_lcpl();
    hid_t dset = H5Dcreate2(h->file, name, native_type(type), fspace, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (dset < 0) {
        H5Sclose(fspace);
        return sl_h5_error("cannot create dataset in", h->tmp);
    }
    *dset_p = dset;
    *fspace_p = fspace;
    return SL_OK;
}

/* Bytes of a dataset of that type and shape, at most 2^60 (more cannot be
 * held anyway). */
static uint64_t data_bytes(sl_dtype_t type, int ndim, const uint64_t *dims)
{
    const uint64_t most = (uint64_t)1 << 60;
    uint64_t n = sl_dtype_size(type);
    for (int i = 0; i < ndim && i < SL_H5_MAXDIM; i++)
        n = dims[i] && n > most / dims[i] ? most : n * dims[i];
    return n;
}

/* Collective, after a collective write (e: errno after it): a failure is
 * most often the file system's (full), seen by every rank that wrote, so
 * only the lowest failing rank says it; every rank gets an error, the
 * failing ones their own. */
static sl_status_t write_agree(sl_h5_t *h, int failed, int e, const char *what)
{
    int in = failed ? h->rank : INT_MAX, lo = INT_MAX;
    MPI_Allreduce(&in, &lo, 1, MPI_INT, MPI_MIN, h->comm);
    if (lo == INT_MAX)
        return SL_OK;
    if (h->rank == lo) {
        errno = e;
        return sl_h5_error(what, h->tmp);
    }
    H5Eclear2(H5E_DEFAULT);
    return !failed                                                                          ? SL_ERR_PEER
           : sl_errno_status(e) == SL_ERR_NOSPACE || sl_fs_full(h->tmp, (uint64_t)ROOM_LEN) ? SL_ERR_NOSPACE
                                                                                            : SL_ERR_HDF5;
}

static hid_t coll_dxpl(void)
{
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    return dxpl;
}

/* Rows [row0, row0+nrows) of a dataset of ndim dims: selected in fspace
 * (nothing when nrows is 0: the collective call still needs every rank);
 * returns the matching memory space, which the caller closes. */
static hid_t select_rows(hid_t fspace, int ndim, const uint64_t *dims, uint64_t row0, uint64_t nrows)
{
    hsize_t start[SL_H5_MAXDIM] = {0}, count[SL_H5_MAXDIM];
    for (int i = 0; i < ndim; i++)
        count[i] = dims[i];
    start[0] = row0;
    count[0] = nrows;
    hid_t mspace = H5Screate_simple(ndim, count, NULL);
    if (nrows == 0) {
        H5Sselect_none(fspace);
        H5Sselect_none(mspace);
    } else {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    }
    return mspace;
}

sl_status_t sl_h5_write(sl_h5_t *h, const char *name, sl_dtype_t type, int ndim, const uint64_t *dims,
                        const void *data)
{
    hid_t dset, fspace;
    sl_status_t st = hold(h, data_bytes(type, ndim, dims), "cannot write dataset to");
    if (st != SL_OK)
        return st;
    st = create_dset(h, name, type, ndim, dims, &dset, &fspace);
    if (st != SL_OK)
        return sl_agree(h->comm, st);
    hid_t mspace = H5Scopy(fspace);
    if (h->rank != 0) {
        H5Sselect_none(mspace);
        H5Sselect_none(fspace);
    }
    hid_t dxpl = coll_dxpl();
    int failed = H5Dwrite(dset, native_type(type), mspace, fspace, dxpl, data) < 0, e = errno;
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(dset);
    return write_agree(h, failed, e, "cannot write dataset to");
}

sl_status_t sl_h5_write_rows(sl_h5_t *h, const char *name, sl_dtype_t type, int ndim, const uint64_t *dims,
                             uint64_t row0, uint64_t nrows, const void *data)
{
    hid_t dset, fspace;
    sl_status_t st = SL_OK;
    if (ndim < 1)
        st = sl_error(SL_ERR_INVALID, "'%s': row writes need at least one dimension", name);
    else if (row0 + nrows > dims[0])
        st = sl_error(SL_ERR_INVALID, "'%s': rows %llu..%llu beyond %llu", name, (unsigned long long)row0,
                      (unsigned long long)(row0 + nrows), (unsigned long long)dims[0]);
    st = sl_agree(h->comm, st);
    if (st == SL_OK)
        st = hold(h, data_bytes(type, ndim, dims), "cannot write rows to");
    if (st != SL_OK)
        return st;
    st = create_dset(h, name, type, ndim, dims, &dset, &fspace);
    if (st != SL_OK)
        return sl_agree(h->comm, st);
    hid_t mspace = select_rows(fspace, ndim, dims, row0, nrows);
    hid_t dxpl = coll_dxpl();
    int failed = H5Dwrite(dset, native_type(type), mspace, fspace, dxpl, data) < 0, e = errno;
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(dset);
    return write_agree(h, failed, e, "cannot write rows to");
}

static hid_t open_obj(sl_h5_t *h, const char *obj)
{
    if (!obj || !*obj || !strcmp(obj, "/"))
        return H5Oopen(h->file, "/", H5P_DEFAULT);
    return H5Oopen(h->file, obj, H5P_DEFAULT);
}

static sl_status_t set_attr(sl_h5_t *h, const char *obj, const char *name, hid_t type, const void *v)
{
    sl_status_t st = hold(h, H5Tget_size(type), "cannot write attribute to");
    if (st != SL_OK)
        return st;
    hid_t o = open_obj(h, obj);
    if (o < 0) {
        /* A group that does not exist yet: create it. */
        hid_t lcpl = make_lcpl();
        o = H5Gcreate2(h->file, obj, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        H5Pclose(lcpl);
    }
    if (o < 0)
        return sl_agree(h->comm, sl_h5_error("cannot open object for attribute in", h->tmp));
    if (H5Aexists(o, name) > 0)
        H5Adelete(o, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, type, v) < 0)
        st = sl_h5_error("cannot write attribute to", h->tmp);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(o);
    return sl_agree(h->comm, st);
}

sl_status_t sl_h5_set_attr_i64(sl_h5_t *h, const char *obj, const char *name, int64_t v)
{
    return set_attr(h, obj, name, H5T_NATIVE_INT64, &v);
}

sl_status_t sl_h5_set_attr_f64(sl_h5_t *h, const char *obj, const char *name, double v)
{
    return set_attr(h, obj, name, H5T_NATIVE_DOUBLE, &v);
}

sl_status_t sl_h5_set_attr_str(sl_h5_t *h, const char *obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    sl_status_t st = set_attr(h, obj, name, t, v);
    H5Tclose(t);
    return st;
}

static sl_status_t fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return sl_error(SL_ERR_IO, "cannot open '%s' to sync it: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL)
        return sl_error(SL_ERR_IO, "cannot sync '%s': %s", path, strerror(e));
    return SL_OK;
}

/* Rank 0: keep PATH.1 .. PATH.(keep-1) as older versions. PATH itself is
 * hard-linked, never moved, so it exists at every moment. */
static sl_status_t rotate(const char *path, int keep)
{
    char a[4200], b[4200];
    struct stat sb;
    if (keep <= 1 || stat(path, &sb) != 0)
        return SL_OK;
    for (int i = keep - 1; i >= 2; i--) {
        snprintf(a, sizeof a, "%s.%d", path, i - 1);
        snprintf(b, sizeof b, "%s.%d", path, i);
        if (stat(a, &sb) == 0 && rename(a, b) != 0)
            return sl_error(SL_ERR_IO, "cannot rename '%s' to '%s': %s", a, b, strerror(errno));
    }
    snprintf(b, sizeof b, "%s.1", path);
    unlink(b);
    if (link(path, b) != 0)
        return sl_error(SL_ERR_IO, "cannot link '%s' to '%s' (keep > 1 needs hard links): %s", path, b,
                        strerror(errno));
    return SL_OK;
}

int sl_h5_prune(const char *path, int keep)
{
    char dir[4200];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + (slash == path), path);
    else
        snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t bl = strlen(base);
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name, *num = n + bl + 1;
        if (strncmp(n, base, bl) || n[bl] != '.' || !*num || strspn(num, "0123456789") != strlen(num))
            continue;
        char *end;
        errno = 0;
        long v = strtol(num, &end, 10);
        if (errno || v < 1 || v < keep)
            continue;
        char p[8448];
        snprintf(p, sizeof p, "%s/%s", dir, n);
        if (unlink(p) == 0)
            removed++;
        else
            SL_WARN("cannot remove '%s', an older version than keep %d asks for: %s", p, keep,
                    strerror(errno));
    }
    closedir(d);
    return removed;
}

sl_status_t sl_h5_commit(sl_h5_t **hp, int keep)
{
    sl_h5_t *h = *hp;
    sl_status_t st = SL_OK;
    *hp = NULL;
    /* what the close writes lies below the EOA: held already, unless the
     * close itself allocates */
    st = hold(h, 0, CLOSING);
    if (st != SL_OK) {
        *hp = h;
        sl_h5_discard(hp);
        return st;
    }
    if (h->rank == 0)
        room_give(h);
    MPI_Barrier(h->comm); /* the room is free before any rank flushes */
    if (H5Fclose(h->file) < 0)
        st = sl_h5_error("cannot close", h->tmp);
    h->file = H5I_INVALID_HID;
    st = sl_agree(h->comm, st);
    if (st == SL_OK && h->rank == 0) {
        hold_release(h);
        st = fsync_path(h->tmp);
        if (st == SL_OK)
            st = rotate(h->path, keep);
        if (st == SL_OK && rename(h->tmp, h->path) != 0)
            st = sl_error(SL_ERR_IO, "cannot rename '%s' to '%s': %s", h->tmp, h->path, strerror(errno));
        if (st == SL_OK)
            st = sl_fsync_dir_of(h->path);
        if (st != SL_OK)
            unlink(h->tmp);
    } else if (st != SL_OK && h->rank == 0) {
        unlink(h->tmp);
    }
    st = sl_agree(h->comm, st);
    h5_free(h);
    return st;
}

void sl_h5_discard(sl_h5_t **hp)
{
    if (!hp || !*hp)
        return;
    sl_h5_t *h = *hp;
    if (h->file >= 0) {
        /* The flush in this close writes below the EOA, on blocks held
         * already (hold() failed before a step, not in it), or into the
         * room that the room file frees. */
        if (h->rank == 0)
            room_give(h);
        MPI_Barrier(h->comm);
        H5Fclose(h->file);
        H5Eclear2(H5E_DEFAULT);
    }
    MPI_Barrier(h->comm);
    if (h->rank == 0 && h->writing)
        unlink(h->tmp);
    MPI_Barrier(h->comm); /* collective: on return no rank can still see the file */
    h5_free(h);
    *hp = NULL;
}

static sl_status_t h5_open(MPI_Comm comm, const char *path, int quiet, sl_h5_t **h_p);

sl_status_t sl_h5_damaged(MPI_Comm comm, const char *path)
{
    return sl_error_root(comm, SL_ERR_HDF5,
                         "'%s' is damaged (truncated?) or not an HDF5 file: HDF5 cannot open it", path);
}

sl_status_t sl_h5_open(MPI_Comm comm, const char *path, sl_h5_t **h_p)
{
    return h5_open(comm, path, 0, h_p);
}

sl_status_t sl_h5_try_open(MPI_Comm comm, const char *path, sl_h5_t **h_p)
{
    return h5_open(comm, path, 1, h_p);
}

static sl_status_t h5_open(MPI_Comm comm, const char *path, int quiet, sl_h5_t **h_p)
{
    sl_h5_t *h = NULL;
    int rank, exists = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        struct stat sb;
        exists = access(path, R_OK) == 0 ? 1 : (errno == ENOENT ? 0 : -errno);
        if (exists == 1 && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            exists = -EISDIR; /* else MPI-IO's read errors reach the terminal first */
    }
    MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
    if (exists == 0)
        return SL_ERR_NOT_FOUND; /* not printed: the caller knows whether it is an error */
    if (exists < 0)
        return sl_error_root(comm, SL_ERR_IO, "cannot read '%s': %s", path, strerror(-exists));
    sl_status_t st = sl_agree(comm, h5_alloc(comm, path, &h));
    if (st != SL_OK) {
        if (h)
            h5_free(h);
        return st;
    }
    hid_t fapl = mpio_fapl(h->comm);
    h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    int bad = h->file < 0; /* every rank takes the same branch */
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, h->comm);
    if (bad) {
        if (h->file >= 0)
            H5Fclose(h->file);
        h->file = H5I_INVALID_HID;
        H5Eclear2(H5E_DEFAULT);
        /* most often a checkpoint cut short by a full disk or a copy, or
         * a file that never was HDF5 */
        if (!quiet)
            sl_h5_damaged(h->comm, path);
        h5_free(h);
        return SL_ERR_HDF5;
    }
    *h_p = h;
    return SL_OK;
}

void sl_h5_close(sl_h5_t **hp)
{
    if (!hp || !*hp)
        return;
    if ((*hp)->writing) {
        sl_h5_discard(hp);
        return;
    }
    if ((*hp)->file >= 0)
        H5Fclose((*hp)->file);
    h5_free(*hp);
    *hp = NULL;
}

const char *sl_h5_path(const sl_h5_t *h) { return h->path; }

int sl_h5_exists(sl_h5_t *h, const char *name)
{
    /* Check each link of the path, as H5Lexists requires. */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", name);
    for (char *p = buf; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (buf[0] && H5Lexists(h->file, buf, H5P_DEFAULT) <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    return 1;
}

sl_status_t sl_h5_info(sl_h5_t *h, const char *name, sl_dtype_t *type_p, int *ndim_p, uint64_t *dims)
{
    if (!sl_h5_exists(h, name))
        return SL_ERR_NOT_FOUND;
    hid_t d = H5Dopen2(h->file, name, H5P_DEFAULT);
    if (d < 0) {
        H5Eclear2(H5E_DEFAULT);
        return SL_ERR_NOT_FOUND;
    }
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    sl_status_t st = SL_OK;
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t hd[32];
    if (nd < 0 || nd > SL_H5_MAXDIM || !file_type_to_dtype(ft, type_p)) {
        st = SL_ERR_MISMATCH;
    } else {
        H5Sget_simple_extent_dims(sp, hd, NULL);
        for (int i = 0; i < nd; i++)
            dims[i] = hd[i];
        *ndim_p = nd;
    }
    H5Tclose(ft);
    H5Sclose(sp);
    H5Dclose(d);
    return st;
}

/* Verify a dataset against expectations; message printed by rank 0. */
static sl_status_t verify(sl_h5_t *h, const char *name, sl_dtype_t type, int ndim, const uint64_t *dims)
{
    sl_dtype_t t;
    int nd;
    uint64_t d[SL_H5_MAXDIM];
    char a[128], b[128];
    sl_status_t st = sl_h5_info(h, name, &t, &nd, d);
    if (st == SL_ERR_NOT_FOUND)
        return sl_error_root(h->comm, SL_ERR_MISMATCH, "'%s' has no dataset '%s'", h->path, name);
    if (st != SL_OK)
        return sl_error_root(h->comm, SL_ERR_MISMATCH, "'%s': dataset '%s' has an unsupported type or rank",
                             h->path, name);
    if (t != type)
        return sl_error_root(h->comm, SL_ERR_MISMATCH, "'%s': dataset '%s' is %s, expected %s", h->path, name,
                             sl_dtype_name(t), sl_dtype_name(type));
    if (ndim >= 0) {
        int bad = nd != ndim;
        for (int i = 0; !bad && i < nd; i++)
            bad = dims && dims[i] && dims[i] != d[i];
        if (bad) {
            shape_str(nd, d, a, sizeof a);
            if (dims)
                shape_str(ndim, dims, b, sizeof b); /* 0 stands for any extent */
            else
                snprintf(b, sizeof b, "%d dimensions", ndim);
            return sl_error_root(h->comm, SL_ERR_MISMATCH, "'%s': dataset '%s' has shape %s, expected %s", h->path,
                                 name, a, b);
        }
    }
    return SL_OK;
}

sl_status_t sl_h5_read(sl_h5_t *h, const char *name, sl_dtype_t type, int ndim, const uint64_t *dims, void *data)
{
    sl_status_t st = verify(h, name, type, ndim, dims);
    if (st != SL_OK)
        return st; /* identical on every rank */
    hid_t d = H5Dopen2(h->file, name, H5P_DEFAULT);
    if (d < 0 || H5Dread(d, native_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = sl_h5_error("cannot read dataset from", h->path);
    if (d >= 0)
        H5Dclose(d);
    return sl_agree(h->comm, st);
}

sl_status_t sl_h5_read_rows(sl_h5_t *h, const char *name, sl_dtype_t type, uint64_t row0, uint64_t nrows,
                            void *data)
{
    sl_status_t st = verify(h, name, type, -1, NULL);
    if (st != SL_OK)
        return st;
    sl_dtype_t t;
    int nd;
    uint64_t dims[SL_H5_MAXDIM];
    sl_h5_info(h, name, &t, &nd, dims);
    if (nd < 1 || row0 + nrows > dims[0])
        st = sl_error(SL_ERR_INVALID, "'%s': rows %llu..%llu of dataset '%s' are beyond its %llu rows", h->path,
                      (unsigned long long)row0, (unsigned long long)(row0 + nrows), name,
                      (unsigned long long)(nd ? dims[0] : 0));
    st = sl_agree(h->comm, st);
    if (st != SL_OK)
        return st;
    hid_t d = H5Dopen2(h->file, name, H5P_DEFAULT);
    hid_t fspace = H5Dget_space(d);
    hid_t mspace = select_rows(fspace, nd, dims, row0, nrows);
    hid_t dxpl = coll_dxpl();
    if (H5Dread(d, native_type(type), mspace, fspace, dxpl, data) < 0)
        st = sl_h5_error("cannot read rows from", h->path);
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(d);
    return sl_agree(h->comm, st);
}

static sl_status_t get_attr(sl_h5_t *h, const char *obj, const char *name, hid_t type, void *v)
{
    hid_t o = open_obj(h, obj);
    if (o < 0) {
        H5Eclear2(H5E_DEFAULT);
        return SL_ERR_NOT_FOUND;
    }
    sl_status_t st = SL_OK;
    if (H5Aexists(o, name) <= 0) {
        st = SL_ERR_NOT_FOUND;
    } else {
        hid_t a = H5Aopen(o, name, H5P_DEFAULT);
        if (a < 0 || H5Aread(a, type, v) < 0)
            st = SL_ERR_MISMATCH;
        if (a >= 0)
            H5Aclose(a);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Oclose(o);
    return st;
}

sl_status_t sl_h5_get_attr_i64(sl_h5_t *h, const char *obj, const char *name, int64_t *v_p)
{
    return get_attr(h, obj, name, H5T_NATIVE_INT64, v_p);
}

sl_status_t sl_h5_get_attr_f64(sl_h5_t *h, const char *obj, const char *name, double *v_p)
{
    return get_attr(h, obj, name, H5T_NATIVE_DOUBLE, v_p);
}

sl_status_t sl_h5_get_attr_str(sl_h5_t *h, const char *obj, const char *name, char **v_p)
{
    hid_t o = open_obj(h, obj);
    if (o < 0) {
        H5Eclear2(H5E_DEFAULT);
        return SL_ERR_NOT_FOUND;
    }
    sl_status_t st = SL_ERR_NOT_FOUND;
    if (H5Aexists(o, name) > 0) {
        hid_t a = H5Aopen(o, name, H5P_DEFAULT);
        hid_t ft = H5Aget_type(a);
        st = SL_ERR_MISMATCH;
        if (H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft)) {
            size_t n = H5Tget_size(ft);
            char *s = calloc(n + 1, 1);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n);
            if (s && H5Aread(a, mt, s) >= 0) {
                *v_p = s;
                st = SL_OK;
            } else {
                free(s);
            }
            H5Tclose(mt);
        }
        H5Tclose(ft);
        H5Aclose(a);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Oclose(o);
    return st;
}

sl_status_t sl_h5_write_rng(sl_h5_t *h, const char *name, const gsl_rng *rng)
{
    uint64_t dims[2] = {(uint64_t)h->size, gsl_rng_size(rng)};
    return sl_h5_write_rows(h, name, SL_U8, 2, dims, (uint64_t)h->rank, 1, gsl_rng_state(rng));
}

sl_status_t sl_h5_read_rng(sl_h5_t *h, const char *name, gsl_rng *rng)
{
    uint64_t dims[2] = {(uint64_t)h->size, gsl_rng_size(rng)};
    sl_status_t st = verify(h, name, SL_U8, 2, dims);
    if (st != SL_OK)
        return st;
    return sl_h5_read_rows(h, name, SL_U8, (uint64_t)h->rank, 1, gsl_rng_state(rng));
}
