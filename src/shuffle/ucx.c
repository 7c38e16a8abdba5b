/* SPDX-License-Identifier: BSD-3-Clause */
/* UCX exchange for the sort's shuffle. UCP tagged sends carry blocks of
 * records into pre-posted receive buffers; tags carry the source rank and an
 * end-of-stream bit with the count of blocks sent, so a receiver knows when
 * every block from every peer has landed. MPI only bootstraps (addresses). */
#include "config.h"
#include "shuffle_impl.h"

#include <stdlib.h>
#include <string.h>
#include <ucp/api/ucp.h>

#define TAG_EOS      (1ULL << 62)
#define TAG_SRC_MASK 0xFFFFFFFFULL

typedef struct {
    struct sl_xchg *x;
    void *req;
    void *buf;
    volatile int done;
    ucs_status_t status;
    size_t len;
    ucp_tag_t tag;
} slot_t;

struct sl_xchg_req {
    void *req;
    volatile int done;
    ucs_status_t status;
};

struct sl_xchg {
    MPI_Comm comm;
    int rank, size;
    ucp_context_h ctx;
    ucp_worker_h worker;
    ucp_ep_h *ep;
    size_t msg_size;
    int nslots;
    slot_t *slots;
    sl_xchg_deliver_fn deliver;
    void *arg;
    uint64_t *sent, *recvd, *expect; /* per peer: blocks sent, received, announced */
    int eos_seen;
    sl_status_t dfail; /* the first failed delivery: later blocks are received and dropped, so
                          peers still finish their streams and reach the collective error */
    char desc[256];
};

#define FALLBACK_TLS "tcp,sm,self"

static sl_status_t ucx_error(ucs_status_t s, const char *what)
{
    return sl_error(SL_ERR_UCX, "%s failed: %s (check UCX_TLS; e.g. UCX_TLS=tcp,self or sm,self)", what,
                    ucs_status_string(s));
}

/* During a first try that may fall back: only a verbose note. */
static sl_status_t ucx_note(int quiet, ucs_status_t s, const char *what)
{
    if (!quiet)
        return ucx_error(s, what);
    SL_VERBOSE("%s failed with UCX's default transports: %s", what, ucs_status_string(s));
    return SL_ERR_UCX;
}

static void recv_cb(void *request, ucs_status_t status, const ucp_tag_recv_info_t *info, void *user_data)
{
    slot_t *s = user_data;
    (void)request;
    s->status = status;
    if (status == UCS_OK) {
        s->len = info->length;
        s->tag = info->sender_tag;
    }
    s->done = 1;
}

static void send_cb(void *request, ucs_status_t status, void *user_data)
{
    struct sl_xchg_req *r = user_data;
    (void)request;
    r->status = status;
    r->done = 1;
}

static sl_status_t post(sl_xchg_t *x, slot_t *s)
{
    ucp_request_param_t p;
    memset(&p, 0, sizeof p);
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    p.cb.recv = recv_cb;
    p.user_data = s;
    s->done = 0;
    s->req = ucp_tag_recv_nbx(x->worker, s->buf, x->msg_size, 0, 0, &p);
    if (UCS_PTR_IS_ERR(s->req)) {
        ucs_status_t e = UCS_PTR_STATUS(s->req);
        s->req = NULL;
        return ucx_error(e, "ucp_tag_recv_nbx");
    }
    return SL_OK;
}

static sl_status_t create_tls(MPI_Comm comm, size_t msg_size, int slots, sl_xchg_deliver_fn deliver,
                              void *arg, const char *tls, int quiet, sl_xchg_t **x_p)
{
    sl_xchg_t *x = calloc(1, sizeof *x);
    sl_status_t st = SL_OK;
    ucs_status_t us;
    if (!x)
        return sl_agree(comm, sl_error(SL_ERR_NOMEM, "out of memory"));
    x->comm = comm;
    MPI_Comm_rank(comm, &x->rank);
    MPI_Comm_size(comm, &x->size);
    x->msg_size = msg_size;
    x->nslots = slots;
    x->deliver = deliver;
    x->arg = arg;
    x->ep = calloc((size_t)x->size, sizeof *x->ep);
    x->sent = calloc((size_t)x->size, sizeof *x->sent);
    x->recvd = calloc((size_t)x->size, sizeof *x->recvd);
    x->expect = calloc((size_t)x->size, sizeof *x->expect);
    x->slots = calloc((size_t)slots, sizeof *x->slots);
    if (!x->ep || !x->sent || !x->recvd || !x->expect || !x->slots)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    for (int i = 0; st == SL_OK && i < slots; i++) {
        x->slots[i].x = x;
        if (!(x->slots[i].buf = malloc(msg_size)))
            st = sl_error(SL_ERR_NOMEM, "out of memory for receive buffers");
    }
    ucp_config_t *cfg = NULL;
    if (st == SL_OK && (us = ucp_config_read(NULL, NULL, &cfg)) != UCS_OK)
        st = ucx_error(us, "ucp_config_read");
    if (st == SL_OK && tls && (us = ucp_config_modify(cfg, "TLS", tls)) != UCS_OK)
        st = ucx_error(us, "setting UCX_TLS");
    if (st == SL_OK) {
        ucp_params_t pp;
        memset(&pp, 0, sizeof pp);
        pp.field_mask = UCP_PARAM_FIELD_FEATURES;
        pp.features = UCP_FEATURE_TAG;
        if ((us = ucp_init(&pp, cfg, &x->ctx)) != UCS_OK) {
            x->ctx = NULL;
            st = ucx_note(quiet, us, "ucp_init");
        }
    }
    if (cfg)
        ucp_config_release(cfg);
    if (st == SL_OK) {
        ucp_worker_params_t wp;
        memset(&wp, 0, sizeof wp);
        wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
        wp.thread_mode = UCS_THREAD_MODE_SINGLE;
        if ((us = ucp_worker_create(x->ctx, &wp, &x->worker)) != UCS_OK) {
            x->worker = NULL;
            st = ucx_note(quiet, us, "ucp_worker_create");
        }
    }
    ucp_address_t *addr = NULL;
    size_t alen = 0;
    if (st == SL_OK && (us = ucp_worker_get_address(x->worker, &addr, &alen)) != UCS_OK)
        st = ucx_note(quiet, us, "ucp_worker_get_address");
    st = sl_agree(comm, st);
    if (st != SL_OK) {
        if (addr)
            ucp_worker_release_address(x->worker, addr);
        sl_xchg_destroy(&x);
        return st;
    }
    /* Worker addresses to everyone (the only MPI traffic of the data plane). */
    int mylen = (int)alen, *lens = malloc(sizeof(int) * (size_t)x->size),
        *displs = malloc(sizeof(int) * (size_t)x->size);
    MPI_Allgather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, comm);
    int tot = 0;
    for (int r = 0; r < x->size; r++) {
        displs[r] = tot;
        tot += lens[r];
    }
    char *all = malloc((size_t)tot);
    MPI_Allgatherv(addr, mylen, MPI_BYTE, all, lens, displs, MPI_BYTE, comm);
    ucp_worker_release_address(x->worker, addr);
    for (int r = 0; st == SL_OK && r < x->size; r++) {
        if (r == x->rank)
            continue;
        ucp_ep_params_t ep;
        memset(&ep, 0, sizeof ep);
        ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
        ep.address = (const ucp_address_t *)(all + displs[r]);
        if ((us = ucp_ep_create(x->worker, &ep, &x->ep[r])) != UCS_OK) {
            x->ep[r] = NULL;
            st = ucx_note(quiet, us, "ucp_ep_create");
        }
    }
    free(all);
    free(lens);
    free(displs);
    for (int i = 0; st == SL_OK && i < slots; i++)
        st = post(x, &x->slots[i]);
    snprintf(x->desc, sizeof x->desc, "UCP tag, UCX_TLS=%s, %d x %zu B receive buffers",
             tls ? tls : (getenv("UCX_TLS") ? getenv("UCX_TLS") : "default"), slots, msg_size);
    st = sl_agree(comm, st);
    if (st != SL_OK) {
        sl_xchg_destroy(&x);
        return st;
    }
    *x_p = x;
    return SL_OK;
}

sl_status_t sl_xchg_create(MPI_Comm comm, size_t msg_size, int slots, sl_xchg_deliver_fn deliver, void *arg,
                           sl_xchg_t **x_p)
{
    /* The user's UCX_TLS is used as it is. Without one, UCX picks; if its
     * pick fails on some rank (e.g. cma without ptrace rights in a
     * container), every rank retries with transports that work anywhere. */
    int user = getenv("UCX_TLS") != NULL;
    sl_status_t st = create_tls(comm, msg_size, slots, deliver, arg, NULL, !user, x_p);
    if (st == SL_OK || user || st == SL_ERR_NOMEM)
        return st;
    SL_WARN0("UCX failed with its default transports (-v shows why); retrying with UCX_TLS=%s", FALLBACK_TLS);
    return create_tls(comm, msg_size, slots, deliver, arg, FALLBACK_TLS, 0, x_p);
}

const char *sl_xchg_describe(sl_xchg_t *x)
{
    return x->desc;
}

/* One round of progress; returns only what stops the exchange itself (a
 * failed receive, a bad tag, a receive that cannot be posted again). A
 * failed delivery is kept in x->dfail, and the blocks after it are dropped. */
static sl_status_t pump(sl_xchg_t *x)
{
    while (ucp_worker_progress(x->worker))
        ;
    for (int i = 0; i < x->nslots; i++) {
        slot_t *s = &x->slots[i];
        if (!s->done)
            continue;
        if (s->req) {
            ucp_request_free(s->req);
            s->req = NULL;
        }
        if (s->status != UCS_OK)
            return ucx_error(s->status, "receiving a block");
        int src = (int)(s->tag & TAG_SRC_MASK);
        if (src < 0 || src >= x->size)
            return sl_error(SL_ERR_UCX, "block with a bad source tag %#llx", (unsigned long long)s->tag);
        if (s->tag & TAG_EOS) {
            uint64_t n = 0;
            memcpy(&n, s->buf, sizeof n);
            x->expect[src] = n + 1; /* +1: announced */
            x->eos_seen++;
        } else {
            x->recvd[src]++;
            if (x->dfail == SL_OK)
                x->dfail = x->deliver(x->arg, src, s->buf, s->len);
        }
        SL_TRY(post(x, s));
    }
    return SL_OK;
}

sl_status_t sl_xchg_progress(sl_xchg_t *x)
{
    sl_status_t st = pump(x);
    return st != SL_OK ? st : x->dfail;
}

sl_status_t sl_xchg_isend(sl_xchg_t *x, int dest, const void *buf, size_t len, sl_xchg_req_t **req_p)
{
    struct sl_xchg_req *r = calloc(1, sizeof *r);
    if (!r)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    ucp_request_param_t p;
    memset(&p, 0, sizeof p);
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    p.cb.send = send_cb;
    p.user_data = r;
    ucp_tag_t tag = (ucp_tag_t)x->rank;
    if (len == 0 && buf == NULL) /* internal: end of stream */
        tag |= TAG_EOS;
    else
        x->sent[dest]++;
    const void *data = buf;
    if (tag & TAG_EOS) {
        data = &x->sent[dest];
        len = sizeof x->sent[dest];
    }
    r->req = ucp_tag_send_nbx(x->ep[dest], data, len, tag, &p);
    if (UCS_PTR_IS_ERR(r->req)) {
        ucs_status_t e = UCS_PTR_STATUS(r->req);
        free(r);
        return ucx_error(e, "ucp_tag_send_nbx");
    }
    if (r->req == NULL)
        r->done = 1;
    *req_p = r;
    return SL_OK;
}

sl_status_t sl_xchg_wait(sl_xchg_t *x, sl_xchg_req_t **req)
{
    if (!req || !*req)
        return SL_OK;
    struct sl_xchg_req *r = *req;
    sl_status_t st = SL_OK;
    while (!r->done && st == SL_OK) /* a failed delivery does not stop the send */
        st = pump(x);
    if (!r->done) {
        /* Leave the request to UCX; it is cancelled with the worker. */
        *req = NULL;
        return st;
    }
    if (r->req)
        ucp_request_free(r->req);
    if (st == SL_OK && r->status != UCS_OK)
        st = ucx_error(r->status, "sending a block");
    free(r);
    *req = NULL;
    return st != SL_OK ? st : x->dfail;
}

static int all_in(sl_xchg_t *x)
{
    if (x->eos_seen < x->size - 1)
        return 0;
    for (int r = 0; r < x->size; r++)
        if (r != x->rank && x->recvd[r] + 1 != x->expect[r])
            return 0;
    return 1;
}

sl_status_t sl_xchg_finish(sl_xchg_t *x)
{
    sl_status_t st = SL_OK;
    sl_xchg_req_t **eos = calloc((size_t)x->size, sizeof *eos);
    if (!eos)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    for (int r = 0; st == SL_OK && r < x->size; r++)
        if (r != x->rank)
            st = sl_xchg_isend(x, r, NULL, 0, &eos[r]);
    /* a rank whose delivery failed drains too: its peers' sends complete */
    for (int r = 0; eos && r < x->size; r++) {
        sl_status_t s2 = sl_xchg_wait(x, &eos[r]);
        if (s2 != SL_OK && s2 != x->dfail && st == SL_OK)
            st = s2;
    }
    while (st == SL_OK && !all_in(x))
        st = pump(x);
    free(eos);
    return st != SL_OK ? st : x->dfail;
}

void sl_xchg_destroy(sl_xchg_t **xp)
{
    if (!xp || !*xp)
        return;
    sl_xchg_t *x = *xp;
    /* Every rank is past the exchange (collective), so nothing is in flight
     * to us; close without flushing. */
    MPI_Barrier(x->comm);
    for (int i = 0; x->slots && i < x->nslots; i++) {
        if (x->slots[i].req && x->worker) {
            ucp_request_cancel(x->worker, x->slots[i].req);
            while (!x->slots[i].done)
                ucp_worker_progress(x->worker);
            ucp_request_free(x->slots[i].req);
        }
        free(x->slots[i].buf);
    }
    for (int r = 0; x->ep && r < x->size; r++) {
        if (!x->ep[r])
            continue;
        ucp_request_param_t p;
        memset(&p, 0, sizeof p);
        p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
        p.flags = UCP_EP_CLOSE_FLAG_FORCE;
        void *req = ucp_ep_close_nbx(x->ep[r], &p);
        if (UCS_PTR_IS_PTR(req)) {
            while (ucp_request_check_status(req) == UCS_INPROGRESS)
                ucp_worker_progress(x->worker);
            ucp_request_free(req);
        }
    }
    if (x->worker)
        ucp_worker_destroy(x->worker);
    if (x->ctx)
        ucp_cleanup(x->ctx);
    free(x->ep);
    free(x->sent);
    free(x->recvd);
    free(x->expect);
    free(x->slots);
    free(x);
    *xp = NULL;
}
