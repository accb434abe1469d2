/*
 * wire_reply.c — encoding and decoding a Response (see wire.h).
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_pb.h"

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
        make.observation_space = wire__space_to_pb(&rep->make.obs_space, &sp1);
        make.action_space = wire__space_to_pb(&rep->make.act_space, &sp2);
        make.spec = wire__spec_to_pb(&rep->make.spec, &spec);
        m.make = &make;
        break;
    case ENVD__V1__RESPONSE__OP_DESCRIBE:
        describe.observation_space = wire__space_to_pb(&rep->describe.obs_space, &sp1);
        describe.action_space = wire__space_to_pb(&rep->describe.act_space, &sp2);
        describe.spec = wire__spec_to_pb(&rep->describe.spec, &spec);
        m.describe = &describe;
        break;
    case ENVD__V1__RESPONSE__OP_RESET:
        reset.observation = wire__tensor_to_pb(&rep->reset.obs, &t1);
        m.reset = &reset;
        break;
    case ENVD__V1__RESPONSE__OP_STEP:
        step.observation = wire__tensor_to_pb(&rep->step.obs, &t1);
        step.reward = rep->step.reward;
        step.terminated = rep->step.terminated;
        step.truncated = rep->step.truncated;
        m.step = &step;
        break;
    case ENVD__V1__RESPONSE__OP_RESET_BATCH:
        reset_batch.observations = wire__tensor_to_pb(&rep->reset_batch.obs, &t1);
        m.reset_batch = &reset_batch;
        break;
    case ENVD__V1__RESPONSE__OP_STEP_BATCH: {
        size_t n = rep->step_batch.n;
        step_batch.observations = wire__tensor_to_pb(&rep->step_batch.obs, &t1);
        step_batch.rewards.data = (uint8_t *)rep->step_batch.rewards;
        step_batch.rewards.len = n * sizeof(double);
        step_batch.terminated.data = (uint8_t *)rep->step_batch.terminated;
        step_batch.terminated.len = n;
        step_batch.truncated.data = (uint8_t *)rep->step_batch.truncated;
        step_batch.truncated.len = n;
        step_batch.autoreset.data = (uint8_t *)rep->step_batch.autoreset;
        step_batch.autoreset.len = rep->step_batch.autoreset ? n : 0;
        if (rep->step_batch.has_final_obs)
            step_batch.final_observations = wire__tensor_to_pb(&rep->step_batch.final_obs, &t2);
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
    return wire__pack(&m.base, out);
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
    ProtobufCAllocator pb = wire__arena_allocator(a);
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
        wire__space_from_pb(m->make->observation_space, &out->make.obs_space);
        wire__space_from_pb(m->make->action_space, &out->make.act_space);
        wire__spec_from_pb(m->make->spec, &out->make.spec);
        break;
    case ENVD__V1__RESPONSE__OP_DESCRIBE:
        wire__space_from_pb(m->describe->observation_space, &out->describe.obs_space);
        wire__space_from_pb(m->describe->action_space, &out->describe.act_space);
        wire__spec_from_pb(m->describe->spec, &out->describe.spec);
        break;
    case ENVD__V1__RESPONSE__OP_RESET:
        rc = wire__tensor_from_pb(m->reset->observation, &out->reset.obs, "reset.observation", e);
        break;
    case ENVD__V1__RESPONSE__OP_STEP:
        rc = wire__tensor_from_pb(m->step->observation, &out->step.obs, "step.observation", e);
        out->step.reward = m->step->reward;
        out->step.terminated = m->step->terminated;
        out->step.truncated = m->step->truncated;
        break;
    case ENVD__V1__RESPONSE__OP_RESET_BATCH:
        rc = wire__tensor_from_pb(m->reset_batch->observations, &out->reset_batch.obs,
                            "reset_batch.observations", e);
        break;
    case ENVD__V1__RESPONSE__OP_STEP_BATCH: {
        const Envd__V1__StepBatchReply *r = m->step_batch;
        rc = wire__tensor_from_pb(r->observations, &out->step_batch.obs, "step_batch.observations", e);
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
            rc = wire__tensor_from_pb(r->final_observations, &out->step_batch.final_obs,
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
