/*
 * curve.h — CURVE key files: make a key pair, read a key, hold a client's
 * keys.
 *
 * A key pair lives in two text files: NAME.key holds the secret key (mode
 * 0600) and NAME.pub the public key, each as one line of Z85 text (40
 * characters for 32 bytes). Lines starting with '#' are comments, so the
 * files can say what they are. The public key is derived from the secret
 * one (zmq_curve_public), so a program that needs its own pair is given
 * only its .key file. envd, agentd, the C client and the Python client all
 * read the same files.
 */
#ifndef CURVE_H
#define CURVE_H

#include <stdbool.h>

#include "err.h"

#define CURVE_Z85_LEN 40 /* Z85 text of a 32-byte key, without the terminating NUL */

/* The keys a client connects with; `on` false means plaintext. */
typedef struct curve_client_keys {
    bool on;
    char server_public[CURVE_Z85_LEN + 1];
    char public_key[CURVE_Z85_LEN + 1];
    char secret_key[CURVE_Z85_LEN + 1];
} curve_client_keys_t;

/* True when this libzmq was built with CURVE (libsodium). */
bool curve_available(void);

/* Writes prefix.key (0600, never overwriting) and prefix.pub. */
int curve_keygen(const char *prefix, errbuf_t *e);

/* Reads the one Z85 key in path into out (checked: 40 characters that
 * decode). */
int curve_read_key(const char *path, char out[CURVE_Z85_LEN + 1], errbuf_t *e);

/* The client keys from the server's public key file and the client's own
 * secret key file (its public key derived). */
int curve_client_load(const char *server_pub_path, const char *secret_path,
                      curve_client_keys_t *out, errbuf_t *e);

#endif
