/*
 * presets.h — agentd's defaults for each environment it can learn.
 *
 * The option table in main.c holds CartPole-v1's defaults. A preset is
 * what another environment changes in them: Gymnasium's reward threshold
 * as --target-return, and the hyperparameters that were chosen for it by
 * measurement over seeds 1-10 (`make bench-train ENV=...`; docs/agentd.md
 * has the figures and why). Flags and AGENTD_* variables still override
 * every default, a preset's included. An environment with a Box action
 * space has a preset too, marked not discrete, so that agentd can refuse it
 * at start: DQN needs discrete actions.
 */
#ifndef PRESETS_H
#define PRESETS_H

#include <stdbool.h>

#define PRESET_MAX_DEFAULTS 16

typedef struct preset_default {
    const char *name;  /* option name without -- */
    const char *value; /* its default for this environment, as text */
} preset_default_t;

typedef struct preset {
    const char *env_id;
    bool discrete;
    const char *target_return; /* Gymnasium's reward threshold; NULL: it has none */
    preset_default_t defaults[PRESET_MAX_DEFAULTS]; /* ends at a NULL name */
} preset_t;

/* The preset of env_id, or NULL for an environment agentd knows nothing of
 * (it may still learn one, with --target-return given). */
const preset_t *preset_find(const char *env_id);

/* The env ids of the discrete presets, comma-separated, for messages. */
const char *preset_discrete_ids(void);

/* The environment a command line asks for, before it is parsed: the last
 * --env-id flag, else AGENTD_ENV_ID, else def. */
const char *preset_env_id(int argc, char **argv, const char *def);

#endif
