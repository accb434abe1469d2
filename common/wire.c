/*
 * wire.c — protocol v1 codec over protobuf-c (see wire.h).
 *
 * Decoding runs protobuf-c's unpack with an allocator that bumps through a
 * arena_t, then maps the message onto the plain structs of wire.h,
 * pointing into the unpacked data. Encoding builds protobuf-c messages on
 * the stack that borrow the caller's arrays and packs them once.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envd.pb-c.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire format's raw blocks are little-endian; this codec assumes a little-endian host"
#endif

/* protobuf-c allocates the decoded message in the caller's arena. */
static void *arena_pb_alloc(void *self, size_t n) { return arena_alloc(self, n); }
static void arena_pb_free(void *self, void *p) { (void)self, (void)p; }

static ProtobufCAllocator arena_allocator(arena_t *a)
{
    return (ProtobufCAllocator){.alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = a};
}

void wire_buf_deinit(wire_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int wire_pack(const ProtobufCMessage *m, wire_buf_t *out)
{
    size_t need = protobuf_c_message_get_packed_size(m);
    if (need > out->cap) {
        size_t cap = out->cap ? out->cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(out->data, cap);
        if (!p)
            return ERR_NOMEM;
        out->data = p;
        out->cap = cap;
    }
    out->len = protobuf_c_message_pack(m, out->data);
    return 0;
}

/* ---------------------------------------------------------------- names */

const char *wire_op_name(int op)
{
    static const char *const names[] = {"hello", "make", "describe", "reset", "step",
                                        "reset_batch", "step_batch", "close", "ping", "stats"};
    if (op >= WIRE_OP_FIRST && op <= WIRE_OP_LAST)
        return names[op - WIRE_OP_FIRST];
    return "unknown";
}

size_t wire_dtype_size(int dtype)
{
    switch (dtype) {
    case WIRE_DTYPE_FLOAT32: return 4;
    case WIRE_DTYPE_FLOAT64: return 8;
    case WIRE_DTYPE_INT64: return 8;
    case WIRE_DTYPE_INT32: return 4;
    case WIRE_DTYPE_UINT8: return 1;
    default: return 0;
    }
}

void wire_tensor_f32(wire_tensor_t *t, const float *data, uint32_t d0, uint32_t d1)
{
    memset(t, 0, sizeof *t);
    t->dtype = WIRE_DTYPE_FLOAT32;
    t->shape[0] = d0;
    t->ndim = 1;
    size_t n = d0;
    if (d1) {
        t->shape[1] = d1;
        t->ndim = 2;
        n *= d1;
    }
    t->data = data;
    t->len = n * sizeof(float);
}

/* ------------------------------------------------------ pieces: decode */

/* proto3 strings must be UTF-8 and protobuf-c does not check it. Other
 * implementations (Python's among them) refuse to parse a message with a
 * bad string, so one accepted here could come back inside an error reply
 * ("unknown env id '...'") that the client cannot read. */
static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s++;
        int more;
        uint32_t cp;
        if (c < 0x80)
            continue;
        else if (c >= 0xc2 && c <= 0xdf)
            more = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            more = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            more = 3, cp = c & 0x07;
        else
            return false;
        for (int i = 0; i < more; i++, s++) {
            if ((*s & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (*s & 0x3f);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
    }
    return true;
}

static int check_utf8(const char *s, const char *what, errbuf_t *e)
{
    if (s && !utf8_valid(s))
        return err_set(e, ERR_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
    return 0;
}

/* protobuf-c hands a string field over as a C string, its length lost:
 * "max_episode_steps\0x" would pass as max_episode_steps, and an env id
 * or option value would be cut short without a word. So the raw bytes of a
 * message that has already unpacked are walked once more with the
 * message's descriptor, and every string field at any depth is looked at
 * with its length. Only tags and lengths are read, apart from the strings
 * themselves, so the cost is per field. Bytes that do not parse cannot
 * occur after a successful unpack; the walk then just stops. */
#define NUL_SCAN_DEPTH 8      /* envd.proto nests 3 deep, and nothing is recursive */
#define NUL_SCAN_REPEATED 32  /* fields of one message whose elements are counted */

static bool scan_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* path[0..at) names the message being walked ("" at the top, then
 * "make.options[1]"); a field's name is appended for its own walk. */
static int scan_nul(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, char *path,
                    size_t cap, size_t at, int depth, errbuf_t *e)
{
    const uint8_t *end = p + len;
    unsigned seen[NUL_SCAN_REPEATED] = {0};
    while (p < end) {
        uint64_t tag, n;
        if (!scan_varint(&p, end, &tag))
            return 0;
        switch (tag & 7) {
        case 0:
            if (!scan_varint(&p, end, &n))
                return 0;
            continue;
        case 1:
        case 5: {
            size_t w = (tag & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return 0;
            p += w;
            continue;
        }
        case 2:
            break;
        default: /* groups: protobuf-c refuses them before this runs */
            return 0;
        }
        if (!scan_varint(&p, end, &n) || n > (uint64_t)(end - p))
            return 0;
        const uint8_t *v = p;
        p += n;
        const ProtobufCFieldDescriptor *f =
            tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
                                   : NULL;
        if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
            continue;
        size_t k = (size_t)(f - d->fields);
        int w = f->label == PROTOBUF_C_LABEL_REPEATED && k < NUL_SCAN_REPEATED
                    ? snprintf(path + at, cap - at, "%s%s[%u]", at ? "." : "", f->name, seen[k]++)
                    : snprintf(path + at, cap - at, "%s%s", at ? "." : "", f->name);
        size_t next = w < 0 ? at : at + (size_t)w < cap ? at + (size_t)w : cap - 1;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            const uint8_t *nul = memchr(v, 0, (size_t)n);
            if (nul)
                return err_set(e, ERR_INVALID_ARGUMENT,
                               "%s contains a NUL byte (at offset %zu of its %llu bytes)", path,
                               (size_t)(nul - v), (unsigned long long)n);
        } else if (depth < NUL_SCAN_DEPTH) {
            int rc = scan_nul(f->descriptor, v, (size_t)n, path, cap, next, depth + 1, e);
            if (rc < 0)
                return rc;
        }
        path[at] = '\0';
    }
    return 0;
}

/* Refuses a request with a NUL byte in any string field (see scan_nul). */
static int check_no_nul(const void *buf, size_t len, errbuf_t *e)
{
    char path[128] = "";
    return scan_nul(&envd__v1__request__descriptor, buf, len, path, sizeof path, 0, 0, e);
}

static int tensor_from_pb(const Envd__V1__Tensor *pb, wire_tensor_t *t, const char *what,
                          errbuf_t *e)
{
    memset(t, 0, sizeof *t);
    if (!pb)
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: missing tensor", what);
    size_t esz = wire_dtype_size(pb->dtype);
    if (esz == 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: unknown dtype %d", what, (int)pb->dtype);
    if (pb->n_shape == 0 || pb->n_shape > WIRE_MAX_DIMS)
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: %zu dimensions (1 to %d allowed)", what,
                       pb->n_shape, WIRE_MAX_DIMS);
    uint64_t count = 1;
    for (size_t i = 0; i < pb->n_shape; i++) {
        /* Checked before multiplying: a product past 2^64 would wrap, and
         * [2^20, 2^20, 2^24] would then pass as 0 elements. */
        if (pb->shape[i] && count > ((uint64_t)1 << 40) / pb->shape[i])
            return err_set(e, ERR_INVALID_ARGUMENT, "%s: shape too large", what);
        count *= pb->shape[i];
        t->shape[i] = pb->shape[i];
    }
    if (count * esz != pb->data.len)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "%s: %zu data bytes do not match shape and dtype (%llu expected)", what,
                       pb->data.len, (unsigned long long)(count * esz));
    t->dtype = pb->dtype;
    t->ndim = (uint32_t)pb->n_shape;
    t->data = pb->data.data;
    t->len = pb->data.len;
    return 0;
}

static int options_from_pb(arena_t *a, Envd__V1__Option **pb, size_t n,
                           const option_t **out, size_t *nout, errbuf_t *e)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    if (n > OPTIONS_MAX)
        return err_set(e, ERR_INVALID_ARGUMENT, "%zu options given; at most %d allowed", n,
                       OPTIONS_MAX);
    option_t *opts = arena_alloc(a, n * sizeof *opts);
    if (!opts)
        return err_set(e, ERR_RESOURCE_EXHAUSTED, "out of memory decoding options");
    for (size_t i = 0; i < n; i++) {
        opts[i].key = pb[i]->key;
        if (check_utf8(pb[i]->key, "an option key", e) < 0)
            return ERR_INVALID_ARGUMENT;
        switch (pb[i]->value_case) {
        case ENVD__V1__OPTION__VALUE_BOOL_VALUE:
            opts[i].type = OPTION_BOOL;
            opts[i].v.b = pb[i]->bool_value;
            break;
        case ENVD__V1__OPTION__VALUE_INT_VALUE:
            opts[i].type = OPTION_INT;
            opts[i].v.i = pb[i]->int_value;
            break;
        case ENVD__V1__OPTION__VALUE_DOUBLE_VALUE:
            opts[i].type = OPTION_DOUBLE;
            opts[i].v.d = pb[i]->double_value;
            break;
        case ENVD__V1__OPTION__VALUE_STRING_VALUE:
            opts[i].type = OPTION_STRING;
            opts[i].v.s = pb[i]->string_value;
            if (check_utf8(opts[i].v.s, "a string option", e) < 0)
                return ERR_INVALID_ARGUMENT;
            break;
        default:
            opts[i].type = OPTION_NONE;
            break;
        }
    }
    *out = opts;
    *nout = n;
    return 0;
}

static void space_from_pb(const Envd__V1__Space *pb, wire_space_t *s)
{
    memset(s, 0, sizeof *s);
    if (!pb)
        return;
    if (pb->kind_case == ENVD__V1__SPACE__KIND_DISCRETE && pb->discrete) {
        s->kind = WIRE_SPACE_DISCRETE;
        s->n = pb->discrete->n;
        s->start = pb->discrete->start;
    } else if (pb->kind_case == ENVD__V1__SPACE__KIND_BOX && pb->box) {
        const Envd__V1__Box *b = pb->box;
        s->kind = WIRE_SPACE_BOX;
        s->dtype = b->dtype;
        s->ndim = b->n_shape < WIRE_MAX_DIMS ? (uint32_t)b->n_shape : WIRE_MAX_DIMS;
        for (uint32_t i = 0; i < s->ndim; i++)
            s->shape[i] = b->shape[i];
        s->nbounds = b->n_low < b->n_high ? b->n_low : b->n_high;
        s->low = b->low;
        s->high = b->high;
    }
}

static void spec_from_pb(const Envd__V1__EnvSpec *pb, wire_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->env_id = "";
    if (!pb)
        return;
    s->env_id = pb->env_id;
    s->max_episode_steps = pb->max_episode_steps;
    s->has_reward_threshold = pb->threshold_case == ENVD__V1__ENV_SPEC__THRESHOLD_REWARD_THRESHOLD;
    s->reward_threshold = s->has_reward_threshold ? pb->reward_threshold : 0.0;
}

/* ------------------------------------------------------ pieces: encode */

typedef struct space_pb {
    Envd__V1__Space space;
    Envd__V1__Discrete discrete;
    Envd__V1__Box box;
} space_pb_t;

static Envd__V1__Space *space_to_pb(const wire_space_t *s, space_pb_t *pb)
{
    Envd__V1__Space sp = ENVD__V1__SPACE__INIT;
    pb->space = sp;
    if (s->kind == WIRE_SPACE_DISCRETE) {
        Envd__V1__Discrete d = ENVD__V1__DISCRETE__INIT;
        d.n = s->n;
        d.start = s->start;
        pb->discrete = d;
        pb->space.kind_case = ENVD__V1__SPACE__KIND_DISCRETE;
        pb->space.discrete = &pb->discrete;
    } else if (s->kind == WIRE_SPACE_BOX) {
        Envd__V1__Box b = ENVD__V1__BOX__INIT;
        b.n_shape = s->ndim;
        b.shape = (uint32_t *)s->shape;
        b.dtype = s->dtype;
        b.n_low = b.n_high = s->nbounds;
        b.low = (double *)s->low;
        b.high = (double *)s->high;
        pb->box = b;
        pb->space.kind_case = ENVD__V1__SPACE__KIND_BOX;
        pb->space.box = &pb->box;
    }
    return &pb->space;
}

static Envd__V1__EnvSpec *spec_to_pb(const wire_spec_t *s, Envd__V1__EnvSpec *pb)
{
    Envd__V1__EnvSpec init = ENVD__V1__ENV_SPEC__INIT;
    *pb = init;
    pb->env_id = (char *)(s->env_id ? s->env_id : "");
    pb->max_episode_steps = s->max_episode_steps;
    if (s->has_reward_threshold) {
        pb->threshold_case = ENVD__V1__ENV_SPEC__THRESHOLD_REWARD_THRESHOLD;
        pb->reward_threshold = s->reward_threshold;
    }
    return pb;
}

static Envd__V1__Tensor *tensor_to_pb(const wire_tensor_t *t, Envd__V1__Tensor *pb)
{
    Envd__V1__Tensor init = ENVD__V1__TENSOR__INIT;
    *pb = init;
    pb->dtype = t->dtype;
    pb->n_shape = t->ndim;
    pb->shape = (uint32_t *)t->shape;
    pb->data.data = (uint8_t *)t->data;
    pb->data.len = t->len;
    return pb;
}


typedef struct options_pb {
    Envd__V1__Option opt[OPTIONS_MAX];
    Envd__V1__Option *ptr[OPTIONS_MAX];
} options_pb_t;

static int options_to_pb(const option_t *o, size_t n, options_pb_t *pb,
                         Envd__V1__Option ***out, size_t *nout)
{
    if (n > OPTIONS_MAX)
        return ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        Envd__V1__Option init = ENVD__V1__OPTION__INIT;
        pb->opt[i] = init;
        pb->opt[i].key = (char *)o[i].key;
        switch (o[i].type) {
        case OPTION_BOOL:
            pb->opt[i].value_case = ENVD__V1__OPTION__VALUE_BOOL_VALUE;
            pb->opt[i].bool_value = o[i].v.b;
            break;
        case OPTION_INT:
            pb->opt[i].value_case = ENVD__V1__OPTION__VALUE_INT_VALUE;
            pb->opt[i].int_value = o[i].v.i;
            break;
        case OPTION_DOUBLE:
            pb->opt[i].value_case = ENVD__V1__OPTION__VALUE_DOUBLE_VALUE;
            pb->opt[i].double_value = o[i].v.d;
            break;
        case OPTION_STRING:
            pb->opt[i].value_case = ENVD__V1__OPTION__VALUE_STRING_VALUE;
            pb->opt[i].string_value = (char *)o[i].v.s;
            break;
        case OPTION_NONE: /* the oneof stays unset */
            break;
        }
        pb->ptr[i] = &pb->opt[i];
    }
    *out = n ? pb->ptr : NULL;
    *nout = n;
    return 0;
}

/* -------------------------------------------------------------- requests */

int wire_decode_request(arena_t *a, const void *buf, size_t len, wire_request_t *out,
                        errbuf_t *e)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "empty message: expected an envd.v1.Request");
    ProtobufCAllocator pb = arena_allocator(a);
    Envd__V1__Request *m = envd__v1__request__unpack(&pb, len, buf);
    if (!m)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "malformed message: %zu bytes that do not decode as an envd.v1.Request", len);
    out->major = m->major;
    out->minor = m->minor;
    out->id = m->id;
    out->client_id = m->client_id;
    out->op = (wire_op_t)m->op_case;
    int rc = 0;
    switch (m->op_case) {
    case ENVD__V1__REQUEST__OP_HELLO:
        out->hello.client = m->hello->client;
        rc = check_utf8(out->hello.client, "hello.client", e);
        break;
    case ENVD__V1__REQUEST__OP_MAKE:
        out->make.env_id = m->make->env_id;
        out->make.count = m->make->count;
        rc = check_utf8(out->make.env_id, "make.env_id", e);
        if (rc == 0)
            rc = options_from_pb(a, m->make->options, m->make->n_options, &out->make.options,
                                 &out->make.noptions, e);
        break;
    case ENVD__V1__REQUEST__OP_DESCRIBE:
        if (m->describe->target_case == ENVD__V1__DESCRIBE_REQUEST__TARGET_SESSION) {
            out->describe.by_session = true;
            out->describe.session = m->describe->session;
        } else if (m->describe->target_case == ENVD__V1__DESCRIBE_REQUEST__TARGET_ENV_ID) {
            out->describe.env_id = m->describe->env_id;
            rc = check_utf8(out->describe.env_id, "describe.env_id", e);
        } else {
            rc = err_set(e, ERR_INVALID_ARGUMENT, "describe needs a session or an env_id");
        }
        break;
    case ENVD__V1__REQUEST__OP_RESET:
        out->reset.session = m->reset->session;
        out->reset.has_seed = m->reset->seed_present_case == ENVD__V1__RESET_REQUEST__SEED_PRESENT_SEED;
        out->reset.seed = out->reset.has_seed ? m->reset->seed : 0;
        rc = options_from_pb(a, m->reset->options, m->reset->n_options, &out->reset.options,
                             &out->reset.noptions, e);
        break;
    case ENVD__V1__REQUEST__OP_STEP:
        out->step.session = m->step->session;
        out->step.action = m->step->action;
        break;
    case ENVD__V1__REQUEST__OP_RESET_BATCH: {
        const Envd__V1__ResetBatchRequest *r = m->reset_batch;
        out->reset_batch.sessions = r->sessions;
        out->reset_batch.n = r->n_sessions;
        out->reset_batch.seeds = r->seeds;
        out->reset_batch.nseeds = r->n_seeds;
        out->reset_batch.seeded = r->seeded.len ? r->seeded.data : NULL;
        out->reset_batch.nseeded = r->seeded.len;
        rc = options_from_pb(a, r->options, r->n_options, &out->reset_batch.options,
                             &out->reset_batch.noptions, e);
        break;
    }
    case ENVD__V1__REQUEST__OP_STEP_BATCH: {
        const Envd__V1__StepBatchRequest *r = m->step_batch;
        out->step_batch.sessions = r->sessions;
        out->step_batch.n = r->n_sessions;
        out->step_batch.autoreset = r->autoreset_mode;
        /* An empty batch needs no actions: an absent or all-default
         * tensor is accepted there. */
        bool untyped = !r->actions || (r->actions->dtype == 0 && r->actions->data.len == 0);
        if (r->n_sessions == 0 && untyped)
            break;
        if (!r->actions)
            rc = err_set(e, ERR_INVALID_ARGUMENT, "step_batch.actions: missing tensor");
        else
            rc = tensor_from_pb(r->actions, &out->step_batch.actions, "step_batch.actions", e);
        break;
    }
    case ENVD__V1__REQUEST__OP_CLOSE:
        out->close.sessions = m->close->sessions;
        out->close.n = m->close->n_sessions;
        break;
    case ENVD__V1__REQUEST__OP_PING:
        out->ping.payload = m->ping->payload.data;
        out->ping.len = m->ping->payload.len;
        break;
    case ENVD__V1__REQUEST__OP_STATS:
        break;
    default:
        rc = err_set(e, ERR_INVALID_ARGUMENT,
                     "unknown or missing operation: the request sets none this server knows");
        break;
    }
    if (rc == 0)
        rc = check_no_nul(buf, len, e);
    /* The arena owns the memory; this releases nothing but keeps the rule
     * that every unpack has its free_unpacked. The views stay valid until
     * arena_reset(). */
    envd__v1__request__free_unpacked(m, &pb);
    return rc;
}

int wire_encode_request(const wire_request_t *req, wire_buf_t *out)
{
    Envd__V1__Request m = ENVD__V1__REQUEST__INIT;
    m.major = req->major;
    m.minor = req->minor;
    m.id = req->id;
    m.client_id = req->client_id;
    m.op_case = (Envd__V1__Request__OpCase)req->op;

    Envd__V1__HelloRequest hello = ENVD__V1__HELLO_REQUEST__INIT;
    Envd__V1__MakeRequest make = ENVD__V1__MAKE_REQUEST__INIT;
    Envd__V1__DescribeRequest describe = ENVD__V1__DESCRIBE_REQUEST__INIT;
    Envd__V1__ResetRequest reset = ENVD__V1__RESET_REQUEST__INIT;
    Envd__V1__StepRequest step = ENVD__V1__STEP_REQUEST__INIT;
    Envd__V1__ResetBatchRequest reset_batch = ENVD__V1__RESET_BATCH_REQUEST__INIT;
    Envd__V1__StepBatchRequest step_batch = ENVD__V1__STEP_BATCH_REQUEST__INIT;
    Envd__V1__CloseRequest close = ENVD__V1__CLOSE_REQUEST__INIT;
    Envd__V1__PingRequest ping = ENVD__V1__PING_REQUEST__INIT;
    Envd__V1__StatsRequest stats = ENVD__V1__STATS_REQUEST__INIT;
    Envd__V1__Tensor actions;
    options_pb_t opts;
    int rc = 0;

    switch (req->op) {
    case WIRE_OP_HELLO:
        hello.client = (char *)(req->hello.client ? req->hello.client : "");
        m.hello = &hello;
        break;
    case WIRE_OP_MAKE:
        make.env_id = (char *)(req->make.env_id ? req->make.env_id : "");
        make.count = req->make.count;
        rc = options_to_pb(req->make.options, req->make.noptions, &opts, &make.options,
                           &make.n_options);
        m.make = &make;
        break;
    case WIRE_OP_DESCRIBE:
        if (req->describe.by_session) {
            describe.target_case = ENVD__V1__DESCRIBE_REQUEST__TARGET_SESSION;
            describe.session = req->describe.session;
        } else {
            describe.target_case = ENVD__V1__DESCRIBE_REQUEST__TARGET_ENV_ID;
            describe.env_id = (char *)(req->describe.env_id ? req->describe.env_id : "");
        }
        m.describe = &describe;
        break;
    case WIRE_OP_RESET:
        reset.session = req->reset.session;
        if (req->reset.has_seed) {
            reset.seed_present_case = ENVD__V1__RESET_REQUEST__SEED_PRESENT_SEED;
            reset.seed = req->reset.seed;
        }
        rc = options_to_pb(req->reset.options, req->reset.noptions, &opts, &reset.options,
                           &reset.n_options);
        m.reset = &reset;
        break;
    case WIRE_OP_STEP:
        step.session = req->step.session;
        step.action = req->step.action;
        m.step = &step;
        break;
    case WIRE_OP_RESET_BATCH:
        reset_batch.sessions = (uint64_t *)req->reset_batch.sessions;
        reset_batch.n_sessions = req->reset_batch.n;
        reset_batch.seeds = (uint64_t *)req->reset_batch.seeds;
        reset_batch.n_seeds = req->reset_batch.nseeds;
        reset_batch.seeded.data = (uint8_t *)req->reset_batch.seeded;
        reset_batch.seeded.len = req->reset_batch.nseeded;
        rc = options_to_pb(req->reset_batch.options, req->reset_batch.noptions, &opts,
                           &reset_batch.options, &reset_batch.n_options);
        m.reset_batch = &reset_batch;
        break;
    case WIRE_OP_STEP_BATCH:
        step_batch.sessions = (uint64_t *)req->step_batch.sessions;
        step_batch.n_sessions = req->step_batch.n;
        step_batch.actions = tensor_to_pb(&req->step_batch.actions, &actions);
        step_batch.autoreset_mode = req->step_batch.autoreset;
        m.step_batch = &step_batch;
        break;
    case WIRE_OP_CLOSE:
        close.sessions = (uint64_t *)req->close.sessions;
        close.n_sessions = req->close.n;
        m.close = &close;
        break;
    case WIRE_OP_PING:
        ping.payload.data = (uint8_t *)req->ping.payload;
        ping.payload.len = req->ping.len;
        m.ping = &ping;
        break;
    case WIRE_OP_STATS:
        m.stats = &stats;
        break;
    default:
        m.op_case = ENVD__V1__REQUEST__OP__NOT_SET;
        break;
    }
    if (rc < 0)
        return rc;
    return wire_pack(&m.base, out);
}

/* --------------------------------------------------------------- replies */

int wire_encode_reply(const wire_reply_t *rep, wire_buf_t *out)
{
    Envd__V1__Response m = ENVD__V1__RESPONSE__INIT;
    Envd__V1__Status status = ENVD__V1__STATUS__INIT;
    m.major = rep->major;
    m.minor = rep->minor;
    m.id = rep->id;
    status.code = (Envd__V1__Code)(-rep->code);
    status.message = (char *)(rep->message ? rep->message : "");
    m.status = &status;
    m.op_case = rep->code == ERR_OK ? (Envd__V1__Response__OpCase)rep->op
                                     : ENVD__V1__RESPONSE__OP__NOT_SET;

    Envd__V1__HelloReply hello = ENVD__V1__HELLO_REPLY__INIT;
    Envd__V1__Limits limits = ENVD__V1__LIMITS__INIT;
    Envd__V1__MakeReply make = ENVD__V1__MAKE_REPLY__INIT;
    Envd__V1__DescribeReply describe = ENVD__V1__DESCRIBE_REPLY__INIT;
    Envd__V1__ResetReply reset = ENVD__V1__RESET_REPLY__INIT;
    Envd__V1__StepReply step = ENVD__V1__STEP_REPLY__INIT;
    Envd__V1__ResetBatchReply reset_batch = ENVD__V1__RESET_BATCH_REPLY__INIT;
    Envd__V1__StepBatchReply step_batch = ENVD__V1__STEP_BATCH_REPLY__INIT;
    Envd__V1__CloseReply close = ENVD__V1__CLOSE_REPLY__INIT;
    Envd__V1__PingReply ping = ENVD__V1__PING_REPLY__INIT;
    Envd__V1__StatsReply stats = ENVD__V1__STATS_REPLY__INIT;
    Envd__V1__Tensor t1, t2;
    Envd__V1__EnvSpec spec;
    space_pb_t sp1, sp2;

    switch (m.op_case) {
    case ENVD__V1__RESPONSE__OP_HELLO:
        hello.major = rep->hello.major;
        hello.minor = rep->hello.minor;
        hello.server_version = (char *)(rep->hello.server_version ? rep->hello.server_version : "");
        hello.env_ids = (char **)rep->hello.env_ids;
        hello.n_env_ids = rep->hello.n_env_ids;
        limits.max_message_size = rep->hello.max_message_size;
        limits.max_batch = rep->hello.max_batch;
        limits.max_sessions = rep->hello.max_sessions;
        limits.session_ttl_ms = rep->hello.session_ttl_ms;
        hello.limits = &limits;
        m.hello = &hello;
        break;
    case ENVD__V1__RESPONSE__OP_MAKE:
        make.sessions = (uint64_t *)rep->make.sessions;
        make.n_sessions = rep->make.n;
        make.observation_space = space_to_pb(&rep->make.obs_space, &sp1);
        make.action_space = space_to_pb(&rep->make.act_space, &sp2);
        make.spec = spec_to_pb(&rep->make.spec, &spec);
        m.make = &make;
        break;
    case ENVD__V1__RESPONSE__OP_DESCRIBE:
        describe.observation_space = space_to_pb(&rep->describe.obs_space, &sp1);
        describe.action_space = space_to_pb(&rep->describe.act_space, &sp2);
        describe.spec = spec_to_pb(&rep->describe.spec, &spec);
        m.describe = &describe;
        break;
    case ENVD__V1__RESPONSE__OP_RESET:
        reset.observation = tensor_to_pb(&rep->reset.obs, &t1);
        m.reset = &reset;
        break;
    case ENVD__V1__RESPONSE__OP_STEP:
        step.observation = tensor_to_pb(&rep->step.obs, &t1);
        step.reward = rep->step.reward;
        step.terminated = rep->step.terminated;
        step.truncated = rep->step.truncated;
        m.step = &step;
        break;
    case ENVD__V1__RESPONSE__OP_RESET_BATCH:
        reset_batch.observations = tensor_to_pb(&rep->reset_batch.obs, &t1);
        m.reset_batch = &reset_batch;
        break;
    case ENVD__V1__RESPONSE__OP_STEP_BATCH: {
        size_t n = rep->step_batch.n;
        step_batch.observations = tensor_to_pb(&rep->step_batch.obs, &t1);
        step_batch.rewards.data = (uint8_t *)rep->step_batch.rewards;
        step_batch.rewards.len = n * sizeof(double);
        step_batch.terminated.data = (uint8_t *)rep->step_batch.terminated;
        step_batch.terminated.len = n;
        step_batch.truncated.data = (uint8_t *)rep->step_batch.truncated;
        step_batch.truncated.len = n;
        step_batch.autoreset.data = (uint8_t *)rep->step_batch.autoreset;
        step_batch.autoreset.len = rep->step_batch.autoreset ? n : 0;
        if (rep->step_batch.has_final_obs)
            step_batch.final_observations = tensor_to_pb(&rep->step_batch.final_obs, &t2);
        m.step_batch = &step_batch;
        break;
    }
    case ENVD__V1__RESPONSE__OP_CLOSE:
        close.closed = rep->close.closed;
        m.close = &close;
        break;
    case ENVD__V1__RESPONSE__OP_PING:
        ping.payload.data = (uint8_t *)rep->ping.payload;
        ping.payload.len = rep->ping.len;
        m.ping = &ping;
        break;
    case ENVD__V1__RESPONSE__OP_STATS:
        stats.active_sessions = rep->stats.active_sessions;
        stats.sessions_created = rep->stats.sessions_created;
        stats.sessions_reclaimed = rep->stats.sessions_reclaimed;
        stats.env_steps = rep->stats.env_steps;
        stats.requests = rep->stats.requests;
        stats.errors = rep->stats.errors;
        stats.uptime_ms = rep->stats.uptime_ms;
        m.stats = &stats;
        break;
    default:
        m.op_case = ENVD__V1__RESPONSE__OP__NOT_SET;
        break;
    }
    return wire_pack(&m.base, out);
}

static int bytes_of(const ProtobufCBinaryData *b, size_t n, size_t esz, const char *what,
                    const void **out, errbuf_t *e)
{
    if (b->len != n * esz)
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: %zu bytes for %zu rows", what, b->len, n);
    *out = b->data;
    return 0;
}

int wire_decode_reply(arena_t *a, const void *buf, size_t len, wire_reply_t *out,
                      errbuf_t *e)
{
    memset(out, 0, sizeof *out);
    out->message = "";
    ProtobufCAllocator pb = arena_allocator(a);
    Envd__V1__Response *m = envd__v1__response__unpack(&pb, len, buf);
    if (!m)
        return err_set(e, ERR_INVALID_ARGUMENT, "malformed reply (%zu bytes)", len);
    out->major = m->major;
    out->minor = m->minor;
    out->id = m->id;
    if (m->status) {
        out->code = -(int)m->status->code;
        out->message = m->status->message;
    }
    out->op = (wire_op_t)m->op_case;
    int rc = 0;
    switch (m->op_case) {
    case ENVD__V1__RESPONSE__OP_HELLO: {
        const Envd__V1__HelloReply *h = m->hello;
        out->hello.major = h->major;
        out->hello.minor = h->minor;
        out->hello.server_version = h->server_version;
        out->hello.env_ids = (const char *const *)h->env_ids;
        out->hello.n_env_ids = h->n_env_ids;
        if (h->limits) {
            out->hello.max_message_size = h->limits->max_message_size;
            out->hello.max_batch = h->limits->max_batch;
            out->hello.max_sessions = h->limits->max_sessions;
            out->hello.session_ttl_ms = h->limits->session_ttl_ms;
        }
        break;
    }
    case ENVD__V1__RESPONSE__OP_MAKE:
        out->make.sessions = m->make->sessions;
        out->make.n = m->make->n_sessions;
        space_from_pb(m->make->observation_space, &out->make.obs_space);
        space_from_pb(m->make->action_space, &out->make.act_space);
        spec_from_pb(m->make->spec, &out->make.spec);
        break;
    case ENVD__V1__RESPONSE__OP_DESCRIBE:
        space_from_pb(m->describe->observation_space, &out->describe.obs_space);
        space_from_pb(m->describe->action_space, &out->describe.act_space);
        spec_from_pb(m->describe->spec, &out->describe.spec);
        break;
    case ENVD__V1__RESPONSE__OP_RESET:
        rc = tensor_from_pb(m->reset->observation, &out->reset.obs, "reset.observation", e);
        break;
    case ENVD__V1__RESPONSE__OP_STEP:
        rc = tensor_from_pb(m->step->observation, &out->step.obs, "step.observation", e);
        out->step.reward = m->step->reward;
        out->step.terminated = m->step->terminated;
        out->step.truncated = m->step->truncated;
        break;
    case ENVD__V1__RESPONSE__OP_RESET_BATCH:
        rc = tensor_from_pb(m->reset_batch->observations, &out->reset_batch.obs,
                            "reset_batch.observations", e);
        break;
    case ENVD__V1__RESPONSE__OP_STEP_BATCH: {
        const Envd__V1__StepBatchReply *r = m->step_batch;
        rc = tensor_from_pb(r->observations, &out->step_batch.obs, "step_batch.observations", e);
        if (rc < 0)
            break;
        size_t n = out->step_batch.obs.shape[0];
        out->step_batch.n = n;
        const void *p = NULL;
        if ((rc = bytes_of(&r->rewards, n, sizeof(double), "step_batch.rewards", &p, e)) < 0)
            break;
        out->step_batch.rewards = p;
        if ((rc = bytes_of(&r->terminated, n, 1, "step_batch.terminated", &p, e)) < 0)
            break;
        out->step_batch.terminated = p;
        if ((rc = bytes_of(&r->truncated, n, 1, "step_batch.truncated", &p, e)) < 0)
            break;
        out->step_batch.truncated = p;
        if ((rc = bytes_of(&r->autoreset, n, 1, "step_batch.autoreset", &p, e)) < 0)
            break;
        out->step_batch.autoreset = p;
        if (r->final_observations) {
            out->step_batch.has_final_obs = true;
            rc = tensor_from_pb(r->final_observations, &out->step_batch.final_obs,
                                "step_batch.final_observations", e);
        }
        break;
    }
    case ENVD__V1__RESPONSE__OP_CLOSE:
        out->close.closed = m->close->closed;
        break;
    case ENVD__V1__RESPONSE__OP_PING:
        out->ping.payload = m->ping->payload.data;
        out->ping.len = m->ping->payload.len;
        break;
    case ENVD__V1__RESPONSE__OP_STATS:
        out->stats.active_sessions = m->stats->active_sessions;
        out->stats.sessions_created = m->stats->sessions_created;
        out->stats.sessions_reclaimed = m->stats->sessions_reclaimed;
        out->stats.env_steps = m->stats->env_steps;
        out->stats.requests = m->stats->requests;
        out->stats.errors = m->stats->errors;
        out->stats.uptime_ms = m->stats->uptime_ms;
        break;
    default:
        break;
    }
    envd__v1__response__free_unpacked(m, &pb);
    return rc;
}
