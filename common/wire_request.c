/*
 * wire_request.c — encoding and decoding a Request (see wire.h), and the
 * check that no string in one holds a NUL byte.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_pb.h"

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

/* -------------------------------------------------------------- requests */

int wire_decode_request(arena_t *a, const void *buf, size_t len, wire_request_t *out,
                        errbuf_t *e)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "empty message: expected an envd.v1.Request");
    ProtobufCAllocator pb = wire__arena_allocator(a);
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
        rc = wire__check_utf8(out->hello.client, "hello.client", e);
        break;
    case ENVD__V1__REQUEST__OP_MAKE:
        out->make.env_id = m->make->env_id;
        out->make.count = m->make->count;
        rc = wire__check_utf8(out->make.env_id, "make.env_id", e);
        if (rc == 0)
            rc = wire__options_from_pb(a, m->make->options, m->make->n_options, &out->make.options,
                                 &out->make.noptions, e);
        break;
    case ENVD__V1__REQUEST__OP_DESCRIBE:
        if (m->describe->target_case == ENVD__V1__DESCRIBE_REQUEST__TARGET_SESSION) {
            out->describe.by_session = true;
            out->describe.session = m->describe->session;
        } else if (m->describe->target_case == ENVD__V1__DESCRIBE_REQUEST__TARGET_ENV_ID) {
            out->describe.env_id = m->describe->env_id;
            rc = wire__check_utf8(out->describe.env_id, "describe.env_id", e);
        } else {
            rc = err_set(e, ERR_INVALID_ARGUMENT, "describe needs a session or an env_id");
        }
        break;
    case ENVD__V1__REQUEST__OP_RESET:
        out->reset.session = m->reset->session;
        out->reset.has_seed = m->reset->seed_present_case == ENVD__V1__RESET_REQUEST__SEED_PRESENT_SEED;
        out->reset.seed = out->reset.has_seed ? m->reset->seed : 0;
        rc = wire__options_from_pb(a, m->reset->options, m->reset->n_options, &out->reset.options,
                             &out->reset.noptions, e);
        break;
    case ENVD__V1__REQUEST__OP_STEP:
        out->step.session = m->step->session;
        out->step.action = m->step->action;
        out->step.has_box = m->step->box_action != NULL;
        if (out->step.has_box)
            rc = wire__tensor_from_pb(m->step->box_action, &out->step.box, "step.box_action", e);
        break;
    case ENVD__V1__REQUEST__OP_RESET_BATCH: {
        const Envd__V1__ResetBatchRequest *r = m->reset_batch;
        out->reset_batch.sessions = r->sessions;
        out->reset_batch.n = r->n_sessions;
        out->reset_batch.seeds = r->seeds;
        out->reset_batch.nseeds = r->n_seeds;
        out->reset_batch.seeded = r->seeded.len ? r->seeded.data : NULL;
        out->reset_batch.nseeded = r->seeded.len;
        rc = wire__options_from_pb(a, r->options, r->n_options, &out->reset_batch.options,
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
            rc = wire__tensor_from_pb(r->actions, &out->step_batch.actions, "step_batch.actions", e);
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
    Envd__V1__Tensor actions, box;
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
        rc = wire__options_to_pb(req->make.options, req->make.noptions, &opts, &make.options,
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
        rc = wire__options_to_pb(req->reset.options, req->reset.noptions, &opts, &reset.options,
                           &reset.n_options);
        m.reset = &reset;
        break;
    case WIRE_OP_STEP:
        step.session = req->step.session;
        step.action = req->step.action;
        if (req->step.has_box)
            step.box_action = wire__tensor_to_pb(&req->step.box, &box);
        m.step = &step;
        break;
    case WIRE_OP_RESET_BATCH:
        reset_batch.sessions = (uint64_t *)req->reset_batch.sessions;
        reset_batch.n_sessions = req->reset_batch.n;
        reset_batch.seeds = (uint64_t *)req->reset_batch.seeds;
        reset_batch.n_seeds = req->reset_batch.nseeds;
        reset_batch.seeded.data = (uint8_t *)req->reset_batch.seeded;
        reset_batch.seeded.len = req->reset_batch.nseeded;
        rc = wire__options_to_pb(req->reset_batch.options, req->reset_batch.noptions, &opts,
                           &reset_batch.options, &reset_batch.n_options);
        m.reset_batch = &reset_batch;
        break;
    case WIRE_OP_STEP_BATCH:
        step_batch.sessions = (uint64_t *)req->step_batch.sessions;
        step_batch.n_sessions = req->step_batch.n;
        step_batch.actions = wire__tensor_to_pb(&req->step_batch.actions, &actions);
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
    return wire__pack(&m.base, out);
}
