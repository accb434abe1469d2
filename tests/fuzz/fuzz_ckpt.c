/*
 * fuzz_ckpt.c — libFuzzer target over agentd's checkpoint loader: the file
 * parser (ckpt_parse: magic, version, section table, CRC) and what resuming
 * does with a file that parses (run_ckpt_check: the header against
 * the options and the environment's spaces, the session sections, then
 * every learner and replay section loaded into a scratch learner and
 * replay buffer, the resize path included).
 *
 * An input is a checkpoint file as it would be on disk. Every byte is
 * covered by the trailing CRC-32C, so a mutation would almost always die
 * at the CRC check: each input is therefore tried twice, as it is (the CRC
 * check itself) and with its last four bytes replaced by the right CRC of
 * the rest (everything behind the CRC check). The seed corpus
 * (tests/fuzz/gen_corpus.c) holds valid files for the configuration below.
 * Each input that parses is checked twice more: as a training resume and
 * as --eval-only.
 *
 * Invariants: a parse error leaves no ckpt_t and says why; every section
 * listed is found by its tag with its length and its bytes are readable;
 * a refused resume says why, and is never "out of memory" (the inputs are
 * small: memory must be sized by what the file holds). Built without libFuzzer (FUZZ_ENTRY renamed),
 * this replays tests/fuzz/corpus/ckpt/ in the Check suite fuzz_replay.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "log.h"
#include "run_ckpt.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

/* The run the seeds were saved for (gen_corpus.c writes the same). */
#define OBS_DIM 4
#define N_ACTIONS 2
#define NSLOTS 2

static train_config_t config(bool eval_only)
{
    train_config_t c;
    memset(&c, 0, sizeof c);
    c.env_id = "CartPole-v1";
    c.hidden[0] = 16;
    c.nhidden = 1;
    c.dqn = (dqn_config_t){.gamma = 0.99, .lr = 1e-3, .adam_eps = 1e-8, .batch = 4,
                           .huber_delta = 1.0, .max_grad_norm = 10.0, .target_update = 1,
                           .tau = 1.0};
    c.buffer_size = 8;
    c.load_path = "fuzz.ckpt";
    c.eval_only = eval_only;
    return c;
}

static volatile unsigned sink; /* makes the section reads real */

static void one_file(const uint8_t *data, size_t size)
{
    ckpt_t *ck = NULL;
    errbuf_t e;
    err_clear(&e);
    if (ckpt_parse(data, size, &ck, &e) < 0) {
        if (ck || !e.msg[0])
            abort();
        return;
    }
    size_t n;
    const ckpt_section_t *s = ckpt_sections(ck, &n);
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        char tag[CKPT_TAG_LEN + 1] = {0};
        memcpy(tag, s[i].tag, CKPT_TAG_LEN);
        uint64_t len;
        if (ckpt_get(ck, tag, &len) != s[i].data || len != s[i].len)
            abort();
        for (uint64_t k = 0; k < len; k++)
            sum += ((const uint8_t *)s[i].data)[k];
    }
    for (int eval_only = 0; eval_only < 2; eval_only++) {
        train_config_t c = config(eval_only);
        err_clear(&e);
        int rc = run_ckpt_check(&c, ck, OBS_DIM, N_ACTIONS, NSLOTS, &e);
        /* Out of memory on a file this small: a header field, not the
         * file, decided how much to allocate. */
        if ((rc < 0 && !e.msg[0]) || rc == ERR_NOMEM) {
            fprintf(stderr, "fuzz_ckpt: %s: '%s'\n", err_name(rc), e.msg);
            abort();
        }
    }
    ckpt_destroy(&ck);
    sink = sum;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_init("fuzz_ckpt", LOG_ERROR);
        quiet = true;
    }
    one_file(data, size);
    if (size < 4)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    uint32_t crc = crc32c(fixed, size - 4);
    for (int i = 0; i < 4; i++)
        fixed[size - 4 + i] = (uint8_t)(crc >> 8 * i); /* little-endian, as the file */
    one_file(fixed, size);
    free(fixed);
    return 0;
}
