/*
 * gen_corpus.c — writes the fuzz targets' seed corpora, so that they are
 * reproducible: `make fuzz-corpus` runs it into tests/fuzz/corpus/.
 *
 * envd/: record sequences in fuzz_envd.c's format (flags, dt, len, request)
 * built with wire_encode_request. Ids below 16 are patched by the harness
 * into the sessions it saw made, so these reach reset, step, reset_batch,
 * step_batch (every action dtype and autoreset mode) and close on real
 * sessions, plus the error paths (unknown id, duplicate, wrong shape, bad
 * version, the limits).
 *
 * ckpt/: agentd checkpoints in the format run_ckpt.c saves (a "header"
 * section, the nets and Adam moments, counters, rngs, sessions, replay),
 * written with ckpt_save for the network fuzz_ckpt.c checks them against,
 * plus a few damaged ones.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fleet.h"
#include "qnet.h"
#include "rng.h"
#include "wire.h"

/* ------------------------------------------------------------------ envd */

typedef struct seq {
    uint8_t *data;
    size_t len, cap;
} seq_t;

static void seq_put(seq_t *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->data = realloc(s->data, s->cap);
        if (!s->data)
            abort();
    }
    memcpy(s->data + s->len, p, n);
    s->len += n;
}

/* Appends one record: flags 1 (patch ids) unless raw, dt in 100 ms. */
static void seq_req(seq_t *s, wire_request_t *req, unsigned flags, unsigned dt)
{
    static wire_buf_t b;
    static uint64_t id = 1;
    if (!req->major)
        req->major = WIRE_MAJOR;
    req->id = id++;
    if (wire_encode_request(req, &b) < 0)
        abort();
    uint8_t h[4] = {(uint8_t)flags, (uint8_t)dt, (uint8_t)b.len, (uint8_t)(b.len >> 8)};
    seq_put(s, h, 4);
    seq_put(s, b.data, b.len);
}

static void seq_raw(seq_t *s, const void *p, size_t n)
{
    uint8_t h[4] = {0, 0, (uint8_t)n, (uint8_t)(n >> 8)};
    seq_put(s, h, 4);
    seq_put(s, p, n);
}

static void seq_write(seq_t *s, const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->data, 1, s->len, f) != s->len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    free(s->data);
    memset(s, 0, sizeof *s);
}

static void make(seq_t *s, uint32_t count, const option_t *opts, size_t nopts)
{
    wire_request_t r = {.op = WIRE_OP_MAKE};
    r.make.env_id = "CartPole-v1";
    r.make.count = count;
    r.make.options = opts;
    r.make.noptions = nopts;
    seq_req(s, &r, 1, 0);
}

static void reset(seq_t *s, uint64_t session, int seed)
{
    wire_request_t r = {.op = WIRE_OP_RESET};
    r.reset.session = session;
    r.reset.has_seed = seed >= 0;
    r.reset.seed = (uint64_t)seed;
    seq_req(s, &r, 1, 0);
}

static void step(seq_t *s, uint64_t session, int64_t action)
{
    wire_request_t r = {.op = WIRE_OP_STEP};
    r.step.session = session;
    r.step.action = action;
    seq_req(s, &r, 1, 0);
}

static void reset_batch(seq_t *s, const uint64_t *ids, size_t n, const uint64_t *seeds,
                        const uint8_t *seeded)
{
    wire_request_t r = {.op = WIRE_OP_RESET_BATCH};
    r.reset_batch.sessions = ids;
    r.reset_batch.n = n;
    r.reset_batch.seeds = seeds;
    r.reset_batch.nseeds = seeds ? n : 0;
    r.reset_batch.seeded = seeded;
    r.reset_batch.nseeded = seeded ? n : 0;
    seq_req(s, &r, 1, 0);
}

static void step_batch(seq_t *s, const uint64_t *ids, size_t n, int dtype, const void *acts,
                       int mode)
{
    wire_request_t r = {.op = WIRE_OP_STEP_BATCH};
    r.step_batch.sessions = ids;
    r.step_batch.n = n;
    r.step_batch.actions.dtype = dtype;
    r.step_batch.actions.ndim = 1;
    r.step_batch.actions.shape[0] = (uint32_t)n;
    r.step_batch.actions.data = acts;
    r.step_batch.actions.len = n * wire_dtype_size(dtype);
    r.step_batch.autoreset = mode;
    seq_req(s, &r, 1, 0);
}

static void gen_envd(const char *dir)
{
    seq_t s = {0};
    wire_request_t r;

    r = (wire_request_t){.op = WIRE_OP_HELLO};
    r.hello.client = "gen_corpus";
    seq_req(&s, &r, 0, 0);
    r = (wire_request_t){.op = WIRE_OP_PING};
    r.ping.payload = "abc";
    r.ping.len = 3;
    seq_req(&s, &r, 0, 0);
    r = (wire_request_t){.op = WIRE_OP_STATS};
    seq_req(&s, &r, 0, 0);
    r = (wire_request_t){.op = WIRE_OP_DESCRIBE};
    r.describe.env_id = "CartPole-v1";
    seq_req(&s, &r, 0, 0);
    seq_write(&s, dir, "hello_ping_stats_describe");

    /* One session: reset, steps until the pole falls, a step after done. */
    make(&s, 1, NULL, 0);
    reset(&s, 0, 42);
    for (int i = 0; i < 12; i++)
        step(&s, 0, 1);
    step(&s, 0, 0);
    r = (wire_request_t){.op = WIRE_OP_DESCRIBE};
    r.describe.by_session = true;
    r.describe.session = 0;
    seq_req(&s, &r, 1, 0);
    seq_write(&s, dir, "make_reset_step");

    /* A step before reset, an out-of-range action, an unknown session. */
    make(&s, 1, NULL, 0);
    step(&s, 0, 0);
    reset(&s, 0, -1);
    step(&s, 0, 7);
    step(&s, 0x123456789abcdefull, 0);
    seq_write(&s, dir, "step_errors");

    /* Batches: every dtype and autoreset mode, seeded resets, a mask. */
    const uint64_t ids[4] = {0, 1, 2, 3};
    const uint64_t seeds[4] = {1, 2, 3, 4};
    const uint8_t seeded[4] = {1, 0, 1, 0};
    const int64_t a64[4] = {0, 1, 0, 1};
    const int32_t a32[4] = {1, 1, 0, 0};
    const uint8_t a8[4] = {1, 0, 1, 1};
    option_t mopt = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 5};
    make(&s, 4, &mopt, 1);
    reset_batch(&s, ids, 4, seeds, NULL);
    for (int mode = 0; mode < 3; mode++) {
        for (int i = 0; i < 4; i++) {
            step_batch(&s, ids, 4, WIRE_DTYPE_INT64, a64, mode);
            step_batch(&s, ids, 4, WIRE_DTYPE_INT32, a32, mode);
            step_batch(&s, ids, 4, WIRE_DTYPE_UINT8, a8, mode);
        }
        reset_batch(&s, ids, 4, seeds, seeded);
    }
    seq_write(&s, dir, "batches");

    /* Batch errors: duplicate id, wrong shape, wrong dtype, bad mode,
     * too big, seeds of another length; then close. */
    const uint64_t dup[3] = {0, 1, 0};
    make(&s, 3, NULL, 0);
    reset_batch(&s, ids, 3, NULL, NULL);
    step_batch(&s, dup, 3, WIRE_DTYPE_INT64, a64, 0);
    step_batch(&s, ids, 3, WIRE_DTYPE_FLOAT32, a32, 0);
    step_batch(&s, ids, 3, WIRE_DTYPE_INT64, a64, 9);
    r = (wire_request_t){.op = WIRE_OP_STEP_BATCH};
    r.step_batch.sessions = ids;
    r.step_batch.n = 3;
    r.step_batch.actions = (wire_tensor_t){.dtype = WIRE_DTYPE_INT64, .ndim = 1, .shape = {2},
                                           .data = a64, .len = 16};
    seq_req(&s, &r, 1, 0);
    uint64_t many[20];
    for (int i = 0; i < 20; i++)
        many[i] = (uint64_t)i % 16;
    reset_batch(&s, many, 20, NULL, NULL);
    r = (wire_request_t){.op = WIRE_OP_RESET_BATCH};
    r.reset_batch.sessions = ids;
    r.reset_batch.n = 3;
    r.reset_batch.seeds = seeds;
    r.reset_batch.nseeds = 2;
    seq_req(&s, &r, 1, 0);
    r = (wire_request_t){.op = WIRE_OP_CLOSE};
    r.close.sessions = ids;
    r.close.n = 3;
    seq_req(&s, &r, 1, 0);
    step(&s, 0, 0);
    seq_write(&s, dir, "batch_errors_close");

    /* Options: make and reset options, bad ones; version mismatch. */
    option_t ropts[3] = {{.key = "low", .type = OPTION_DOUBLE, .v.d = -0.1},
                              {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.1},
                              {.key = "other", .type = OPTION_STRING, .v.s = "x"}};
    option_t bad = {.key = "sutton_barto_reward", .type = OPTION_BOOL, .v.b = true};
    make(&s, 1, &bad, 1);
    r = (wire_request_t){.op = WIRE_OP_RESET};
    r.reset.session = 0;
    r.reset.options = ropts;
    r.reset.noptions = 3;
    seq_req(&s, &r, 1, 0);
    ropts[0].v.d = 1.0;
    seq_req(&s, &r, 1, 0);
    make(&s, 1, ropts, 1);
    r = (wire_request_t){.op = WIRE_OP_PING, .major = 2};
    seq_req(&s, &r, 0, 0);
    r = (wire_request_t){.op = WIRE_OP_MAKE};
    r.make.env_id = "NoSuchEnv-v0";
    seq_req(&s, &r, 0, 0);
    seq_write(&s, dir, "options_versions");

    /* Reclaim: a session idle past the TTL (20 s in fuzz_envd.c) is gone. */
    make(&s, 2, NULL, 0);
    reset(&s, 0, 1);
    r = (wire_request_t){.op = WIRE_OP_PING};
    seq_req(&s, &r, 2, 250);
    step(&s, 0, 1);
    make(&s, 16, NULL, 0);
    make(&s, 16, NULL, 0);
    make(&s, 16, NULL, 0);
    make(&s, 16, NULL, 0);
    make(&s, 17, NULL, 0);
    seq_write(&s, dir, "reclaim_limits");

    /* Raw bytes: not protobuf, an empty message, a truncated one. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x08};
    static const uint8_t trunc[] = {0x08, 0x01, 0x18, 0x05, 0x72, 0x10, 0x09};
    seq_raw(&s, junk, sizeof junk);
    seq_raw(&s, "", 0);
    seq_raw(&s, trunc, sizeof trunc);
    seq_write(&s, dir, "raw_bytes");
}

/* ------------------------------------------------------------------ ckpt */

/* run_ckpt.c's "header" section, written here from the file format rather
 * than taken from run_ckpt.h, so the seeds also check that layout. */
typedef struct header {
    uint32_t format, has_replay;
    qnet_shape_t shape;
    uint32_t nslots, max_steps, reserved;
    uint64_t replay_cap, seed;
    char env_id[32];
} header_t;

typedef struct variant {
    const char *name;
    int hidden;          /* one hidden layer of this width */
    uint32_t nslots, max_steps;
    bool replay;
    uint64_t added, cap; /* replay rows ever added, the saved capacity */
    const char *env_id;
} variant_t;

static void put_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0)
        abort();
    long len = ftell(f);
    rewind(f);
    void *p = malloc((size_t)len + 1);
    if (!p || fread(p, 1, (size_t)len, f) != (size_t)len)
        abort();
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void write_ckpt(const char *dir, const variant_t *v)
{
    header_t h;
    memset(&h, 0, sizeof h);
    h.format = 1;
    h.has_replay = v->replay;
    h.shape = (qnet_shape_t){.in = 4, .out = 2, .nhidden = 1, .hidden = {v->hidden}};
    h.nslots = v->nslots;
    h.max_steps = v->max_steps;
    h.replay_cap = v->cap;
    h.seed = 7;
    snprintf(h.env_id, sizeof h.env_id, "%s", v->env_id);
    size_t np = (size_t)(4 * v->hidden + v->hidden + v->hidden * 2 + 2);
    float *params = calloc(np, sizeof *params);
    for (size_t i = 0; i < np; i++)
        params[i] = (float)i * 0.01f - 0.5f;
    int64_t adam_t = 3, updates = 3, counters[5] = {100, 5, 0, 0, 5};
    rng_t rngs[2];
    rng_seed(&rngs[0], 1);
    rng_seed(&rngs[1], 2);
    double returns[100] = {10, 20, 30, 40, 50};
    fleet_slot_state_t slots[8];
    for (uint32_t i = 0; i < v->nslots; i++)
        slots[i] = (fleet_slot_state_t){.seed = 100 + i, .resets = i, .len = i};
    uint8_t acts[8 * 16] = {0};
    uint64_t size = v->added < v->cap ? v->added : v->cap;
    uint64_t meta[3] = {v->added, v->cap, size};
    float *obs = calloc(size * 4 + 1, sizeof *obs);
    int32_t *act = calloc(size + 1, sizeof *act);
    float *rew = calloc(size + 1, sizeof *rew);
    uint8_t *flags = calloc(size + 1, 1);
    for (uint64_t i = 0; i < size * 4; i++)
        obs[i] = (float)i * 0.001f;
    for (uint64_t i = 0; i < size; i++) {
        act[i] = (int32_t)(i & 1);
        rew[i] = 1.0f;
        flags[i] = i % 5 == 4;
    }

    ckpt_section_t s[20];
    size_t n = 0;
    s[n++] = (ckpt_section_t){"header", &h, sizeof h};
    s[n++] = (ckpt_section_t){"online", params, np * 4};
    s[n++] = (ckpt_section_t){"target", params, np * 4};
    s[n++] = (ckpt_section_t){"adam_m", params, np * 4};
    s[n++] = (ckpt_section_t){"adam_v", params, np * 4};
    s[n++] = (ckpt_section_t){"adam_t", &adam_t, sizeof adam_t};
    s[n++] = (ckpt_section_t){"updates", &updates, sizeof updates};
    s[n++] = (ckpt_section_t){"counters", counters, sizeof counters};
    s[n++] = (ckpt_section_t){"rngs", rngs, sizeof rngs};
    s[n++] = (ckpt_section_t){"returns", returns, sizeof returns};
    s[n++] = (ckpt_section_t){"slots", slots, v->nslots * sizeof *slots};
    if (v->max_steps)
        s[n++] = (ckpt_section_t){"slotacts", acts, (uint64_t)v->nslots * v->max_steps};
    if (v->replay) {
        s[n++] = (ckpt_section_t){"rp_meta", meta, sizeof meta};
        s[n++] = (ckpt_section_t){"rp_obs", obs, size * 16};
        s[n++] = (ckpt_section_t){"rp_act", act, size * 4};
        s[n++] = (ckpt_section_t){"rp_rew", rew, size * 4};
        s[n++] = (ckpt_section_t){"rp_next", obs, size * 16};
        s[n++] = (ckpt_section_t){"rp_term", flags, size};
        s[n++] = (ckpt_section_t){"rp_trunc", flags, size};
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, v->name);
    errbuf_t e;
    if (ckpt_save(path, s, n, &e) < 0) {
        fprintf(stderr, "gen_corpus: %s\n", e.msg);
        exit(1);
    }
    free(params);
    free(obs);
    free(act);
    free(rew);
    free(flags);
}

static void gen_ckpt(const char *dir)
{
    /* fuzz_ckpt.c resumes with --hidden 16, a replay of 8, 2 sessions. */
    static const variant_t vs[] = {
        {"replay_exact", 16, 2, 10, true, 6, 8, "CartPole-v1"},
        {"replay_resize", 16, 2, 10, true, 20, 12, "CartPole-v1"},
        {"no_replay", 16, 2, 0, false, 0, 8, "CartPole-v1"},
        {"other_nslots", 16, 3, 10, true, 3, 8, "CartPole-v1"},
        {"other_hidden", 8, 2, 10, false, 0, 8, "CartPole-v1"},
        {"other_env", 16, 2, 10, false, 0, 8, "CartPole-v0"},
    };
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        write_ckpt(dir, &vs[i]);
    /* Damaged copies of the first: a flipped byte (CRC), a cut file. */
    char path[512];
    snprintf(path, sizeof path, "%s/replay_exact", dir);
    size_t n;
    uint8_t *p = read_file(path, &n);
    p[n / 2] ^= 0x40;
    put_file(dir, "bad_crc", p, n);
    p[n / 2] ^= 0x40;
    put_file(dir, "truncated", p, n / 3);
    free(p);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_corpus ENVD_DIR CKPT_DIR\n");
        return 2;
    }
    gen_envd(argv[1]);
    gen_ckpt(argv[2]);
    return 0;
}

