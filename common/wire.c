/*
 * wire.c — protocol v1 codec over protobuf-c (see wire.h): output buffers,
 * names, and the pieces both requests and replies carry (tensors, options,
 * spaces, specs). Requests are in wire_request.c, replies in wire_reply.c.
 *
 * Decoding runs protobuf-c's unpack with an allocator that bumps through an
 * arena_t, then maps the message onto the plain structs of wire.h,
 * pointing into the unpacked data. Encoding builds protobuf-c messages on
 * the stack that borrow the caller's arrays and packs them once.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_pb.h"

/* protobuf-c allocates the decoded message in the caller's arena. */
static void *arena_pb_alloc(void *self, size_t n) { return arena_alloc(self, n); }
static void arena_pb_free(void *self, void *p) { (void)self, (void)p; }

ProtobufCAllocator wire__arena_allocator(arena_t *a)
{
    return (ProtobufCAllocator){
        .alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = a};
}

void wire_buf_deinit(wire_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int wire__pack(const ProtobufCMessage *m, wire_buf_t *out)
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

const char *wire_dtype_name(int dtype)
{
    static const char *const names[] = {"DTYPE_UNSPECIFIED", "FLOAT32", "FLOAT64", "INT64",
                                        "INT32", "UINT8"};
    return dtype >= 0 && dtype < (int)(sizeof names / sizeof *names) ? names[dtype] : "UNKNOWN";
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

wire_request_t wire_step_batch_discrete(const uint64_t *sessions, const int32_t *actions,
                                        size_t n, wire_autoreset_t autoreset)
{
    wire_request_t req = {.op = WIRE_OP_STEP_BATCH};
    req.step_batch.sessions = sessions;
    req.step_batch.n = n;
    req.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_INT32, .ndim = 1,
                                             .shape = {(uint32_t)n}, .data = actions,
                                             .len = n * sizeof(int32_t)};
    req.step_batch.autoreset = autoreset;
    return req;
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

int wire__check_utf8(const char *s, const char *what, errbuf_t *e)
{
    if (s && !utf8_valid(s))
        return err_set(e, ERR_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
    return 0;
}

int wire__tensor_from_pb(const Envd__V1__Tensor *pb, wire_tensor_t *t, const char *what,
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

int wire__options_from_pb(arena_t *a, Envd__V1__Option **pb, size_t n,
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
        if (wire__check_utf8(pb[i]->key, "an option key", e) < 0)
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
            if (wire__check_utf8(opts[i].v.s, "a string option", e) < 0)
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

void wire__space_from_pb(const Envd__V1__Space *pb, wire_space_t *s)
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

void wire__spec_from_pb(const Envd__V1__EnvSpec *pb, wire_spec_t *s)
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


Envd__V1__Space *wire__space_to_pb(const wire_space_t *s, space_pb_t *pb)
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

Envd__V1__EnvSpec *wire__spec_to_pb(const wire_spec_t *s, Envd__V1__EnvSpec *pb)
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

Envd__V1__Tensor *wire__tensor_to_pb(const wire_tensor_t *t, Envd__V1__Tensor *pb)
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



int wire__options_to_pb(const option_t *o, size_t n, options_pb_t *pb,
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
