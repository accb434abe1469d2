/*
 * presets.c — the per-environment defaults table (see presets.h).
 *
 * Rows list only what differs from CartPole-v1's defaults in main.c. The
 * figures behind each choice are in docs/agentd.md ("Defaults per
 * environment").
 */
#include "presets.h"

#include <stdlib.h>
#include <string.h>

static const preset_t presets[] = {
    {"CartPole-v1", true, "475", {{NULL, NULL}}},
    {"CartPole-v0", true, "195", {{NULL, NULL}}},
    {"Acrobot-v1", true, "-100", {{"eval-every", "1000"}, {NULL, NULL}}},
    {"MountainCar-v0", true, "-110",
     {{"sessions", "1"},
      {"groups", "1"},
      {"hidden", "256,256"},
      {"lr", "4e-3"},
      {"gamma", "0.98"},
      {"batch-size", "128"},
      {"buffer-size", "10000"},
      {"train-freq", "16"},
      {"gradient-steps", "8"},
      {"target-update", "300"},
      {"eps-end", "0.07"},
      {"eps-decay-steps", "24000"},
      {"eval-every", "1000"},
      {NULL, NULL}}},
    {"MountainCarContinuous-v0", false, "90", {{NULL, NULL}}},
    {"Pendulum-v1", false, NULL, {{NULL, NULL}}},
};

#define NPRESETS (sizeof presets / sizeof presets[0])

const preset_t *preset_find(const char *env_id)
{
    for (size_t i = 0; env_id && i < NPRESETS; i++)
        if (strcmp(presets[i].env_id, env_id) == 0)
            return &presets[i];
    return NULL;
}

const char *preset_discrete_ids(void)
{
    static char ids[256];
    if (!ids[0]) {
        size_t len = 0;
        for (size_t i = 0; i < NPRESETS; i++) {
            if (!presets[i].discrete)
                continue;
            size_t n = strlen(presets[i].env_id);
            if (len + n + 3 >= sizeof ids)
                break;
            if (len) {
                memcpy(ids + len, ", ", 2);
                len += 2;
            }
            memcpy(ids + len, presets[i].env_id, n + 1);
            len += n;
        }
    }
    return ids;
}

const char *preset_env_id(int argc, char **argv, const char *def)
{
    const char *id = getenv("AGENTD_ENV_ID");
    if (!id || !*id)
        id = def;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--env-id") == 0 && i + 1 < argc)
            id = argv[++i];
        else if (strncmp(argv[i], "--env-id=", 9) == 0)
            id = argv[i] + 9;
    }
    return id;
}
