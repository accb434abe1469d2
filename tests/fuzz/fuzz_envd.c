/*
 * fuzz_envd.c — libFuzzer target over envd's whole request path: decode,
 * validation, dispatch into sessions, reply encoding (service_handle), and
 * the reply as a client decodes it.
 *
 * One service_t lives for the whole process, so sessions made by earlier
 * inputs are stepped, reset and closed by later ones, as on a real server.
 * An input is a sequence of records:
 *
 *     flags   u8   bit 0: patch session ids (below); bit 1: reap afterwards
 *     dt      u8   the virtual clock advances dt * 100 ms before the request
 *     len     u16  little-endian
 *     bytes   len  one request message (a record cut short by the end of the
 *                  input takes what is left)
 *
 * Session ids are random 64-bit numbers a fuzzer cannot guess, so the
 * harness keeps a ring of the last SLOTS ids it saw in make replies. With
 * flag bit 0 set, the harness decodes the request itself and, if it
 * decodes, replaces every session id below SLOTS (in describe, reset,
 * step, reset_batch, step_batch and close) by ring[id], "the id-th session
 * made, counting back from the newest", then sends the re-encoded request.
 * Ids of SLOTS and above pass through, so unknown ids stay reachable, and so
 * does a duplicate in a batch (the same small id twice). Without bit 0 the
 * bytes go to service_handle untouched: the raw protobuf decoder sees
 * whatever the fuzzer makes. The seed corpus (tests/fuzz/gen_corpus.c)
 * holds make / reset / step / reset_batch / step_batch / close sequences
 * with patched ids, so step, step_batch and reset run on real sessions
 * from the first input on.
 *
 * Every reply must decode with wire_decode_reply; when the request
 * decodes, the reply echoes its id; an error reply has a non-empty message
 * and no operation; a success names the request's operation. A violation
 * aborts. With a small session limit and TTL the limit, LRU reclaim and
 * session-slot reuse are reached too.
 *
 * Built without libFuzzer (FUZZ_ENTRY renamed), this same function replays
 * tests/fuzz/corpus/envd/ in the Check suite fuzz_replay.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service.h"
#include "wire.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define SLOTS 16

static service_t *svc;
static arena_t *arena; /* the harness's own decoding */
static wire_buf_t out, patched;
static uint64_t ring[SLOTS]; /* ring[(newest - k) % SLOTS] is the k-th newest id */
static unsigned newest, nmade;
static uint64_t now_ms = 1000;

static void fail(const char *what, const wire_request_t *req, const wire_reply_t *rep)
{
    fprintf(stderr, "fuzz_envd: %s (request op %d id %llu; reply op %d id %llu code %d '%s')\n",
            what, req ? (int)req->op : -1, req ? (unsigned long long)req->id : 0ull,
            rep ? (int)rep->op : -1, rep ? (unsigned long long)rep->id : 0ull,
            rep ? rep->code : 0, rep && rep->message ? rep->message : "(null)");
    abort();
}

static void setup(void)
{
    service_config_t cfg = {.max_sessions = 64, .max_batch = 16, .session_ttl_ms = 20000,
                            .max_message_size = 1 << 20};
    if (service_new(&cfg, &svc, NULL) < 0 || arena_new(4096, &arena, NULL) < 0)
        abort();
}

static uint64_t slot_id(uint64_t v)
{
    if (v >= SLOTS || nmade == 0)
        return v;
    return ring[(newest + SLOTS - (unsigned)(v % (nmade < SLOTS ? nmade : SLOTS))) % SLOTS];
}

/* Copies the arena-owned id array with small ids replaced. */
static const uint64_t *patch_ids(const uint64_t *ids, size_t n)
{
    uint64_t *p = arena_alloc(arena, n * sizeof *p + 1);
    if (!p)
        abort();
    for (size_t i = 0; i < n; i++)
        p[i] = slot_id(ids[i]);
    return p;
}

/* Decodes msg and, if it decodes, re-encodes it with ids patched into
 * `patched`; returns whether it did. */
static int patch_request(const uint8_t *msg, size_t len)
{
    wire_request_t req;
    errbuf_t e;
    arena_reset(arena);
    if (wire_decode_request(arena, msg, len, &req, &e) < 0)
        return 0;
    switch (req.op) {
    case WIRE_OP_DESCRIBE:
        if (req.describe.by_session)
            req.describe.session = slot_id(req.describe.session);
        break;
    case WIRE_OP_RESET: req.reset.session = slot_id(req.reset.session); break;
    case WIRE_OP_STEP: req.step.session = slot_id(req.step.session); break;
    case WIRE_OP_RESET_BATCH:
        req.reset_batch.sessions = patch_ids(req.reset_batch.sessions, req.reset_batch.n);
        break;
    case WIRE_OP_STEP_BATCH:
        req.step_batch.sessions = patch_ids(req.step_batch.sessions, req.step_batch.n);
        break;
    case WIRE_OP_CLOSE: req.close.sessions = patch_ids(req.close.sessions, req.close.n); break;
    default: break;
    }
    if (wire_encode_request(&req, &patched) < 0)
        abort();
    return 1;
}

static void one_request(const uint8_t *msg, size_t len)
{
    service_result_t res;
    service_handle(svc, msg, len, NULL, now_ms, &out, &res);

    wire_request_t req;
    wire_reply_t rep;
    errbuf_t e;
    arena_reset(arena);
    int req_ok = wire_decode_request(arena, msg, len, &req, &e) == 0;
    if (wire_decode_reply(arena, out.data, out.len, &rep, &e) < 0) {
        fprintf(stderr, "fuzz_envd: reply does not decode: %s\n", e.msg);
        fail("undecodable reply", req_ok ? &req : NULL, NULL);
    }
    if (req_ok && rep.id != req.id)
        fail("reply id does not echo the request id", &req, &rep);
    if (rep.code != res.code)
        fail("reply code differs from service_result", req_ok ? &req : NULL, &rep);
    if (rep.code != ERR_OK) {
        if (!rep.message || !rep.message[0])
            fail("error reply without a message", req_ok ? &req : NULL, &rep);
        if (rep.op != WIRE_OP_NONE)
            fail("error reply carries an operation", req_ok ? &req : NULL, &rep);
        return;
    }
    if (!req_ok || rep.op != req.op)
        fail("success reply for another operation", req_ok ? &req : NULL, &rep);
    if (rep.op == WIRE_OP_MAKE)
        for (size_t i = 0; i < rep.make.n; i++) {
            newest = (newest + 1) % SLOTS;
            ring[newest] = rep.make.sessions[i];
            nmade++;
        }
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    if (!svc)
        setup();
    while (size >= 4) {
        unsigned flags = data[0], dt = data[1];
        size_t len = (size_t)data[2] | (size_t)data[3] << 8;
        data += 4;
        size -= 4;
        if (len > size)
            len = size;
        now_ms += dt * 100u;
        if ((flags & 1) && patch_request(data, len))
            one_request(patched.data, patched.len);
        else
            one_request(data, len);
        if (flags & 2)
            service_reap(svc, now_ms);
        data += len;
        size -= len;
    }
    return 0;
}
