/*
 * curve.c — CURVE key files (see curve.h).
 */
#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

bool curve_available(void) { return zmq_has("curve") != 0; }

static int write_file(const char *path, int mode, const char *what, const char *key, errbuf_t *e)
{
    /* O_EXCL: a key generation never silently replaces a key in use. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    char text[256];
    int n = snprintf(text, sizeof text, "# envd CURVE %s key (Z85)\n%s\n", what, key);
    bool ok = write(fd, text, (size_t)n) == n;
    ok = fsync(fd) == 0 && ok;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        unlink(path);
        return err_set(e, ERR_IO, "writing %s failed", path);
    }
    return 0;
}

int curve_keygen(const char *prefix, errbuf_t *e)
{
    if (!curve_available())
        return err_set(e, ERR_FAILED_PRECONDITION, "this libzmq was built without CURVE");
    char pub[CURVE_Z85_LEN + 1], sec[CURVE_Z85_LEN + 1];
    if (zmq_curve_keypair(pub, sec) < 0)
        return err_set(e, ERR_IO, "zmq_curve_keypair: %s", zmq_strerror(errno));
    char key_path[4096], pub_path[4096];
    if (snprintf(key_path, sizeof key_path, "%s.key", prefix) >= (int)sizeof key_path ||
        snprintf(pub_path, sizeof pub_path, "%s.pub", prefix) >= (int)sizeof pub_path)
        return err_set(e, ERR_INVALID_ARGUMENT, "key prefix too long");
    int rc = write_file(key_path, 0600, "secret", sec, e);
    if (rc == 0 && (rc = write_file(pub_path, 0644, "public", pub, e)) < 0)
        unlink(key_path);
    memset(sec, 0, sizeof sec);
    return rc;
}

int curve_read_key(const char *path, char out[CURVE_Z85_LEN + 1], errbuf_t *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    char line[512];
    int rc = err_set(e, ERR_INVALID_ARGUMENT, "%s: no key found", path);
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t\r\n");
        if (*p == '#' || n == 0)
            continue;
        uint8_t bin[32];
        if (n != CURVE_Z85_LEN || (p[n] = '\0', !zmq_z85_decode(bin, p))) {
            rc = err_set(e, ERR_INVALID_ARGUMENT,
                         "%s: not a CURVE key (want 40 characters of Z85 text)", path);
        } else {
            memcpy(out, p, CURVE_Z85_LEN + 1);
            rc = 0;
        }
        memset(line, 0, sizeof line);
        break;
    }
    fclose(f);
    return rc;
}

int curve_client_load(const char *server_pub_path, const char *secret_path,
                      curve_client_keys_t *out, errbuf_t *e)
{
    memset(out, 0, sizeof *out);
    if (!curve_available())
        return err_set(e, ERR_FAILED_PRECONDITION, "this libzmq was built without CURVE");
    int rc = curve_read_key(server_pub_path, out->server_public, e);
    if (rc == 0)
        rc = curve_read_key(secret_path, out->secret_key, e);
    if (rc == 0 && zmq_curve_public(out->public_key, out->secret_key) < 0)
        rc = err_set(e, ERR_INVALID_ARGUMENT, "%s: cannot derive the public key", secret_path);
    out->on = rc == 0;
    return rc;
}
