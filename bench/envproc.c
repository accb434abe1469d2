/*
 * envproc.c — start, watch and stop an envd child (see envproc.h).
 *
 * envd announces each endpoint it bound ("listening on tcp://127.0.0.1:NNN")
 * and then "ready" on stderr. The log goes to a file rather than a pipe so
 * that envd can never block on a full pipe while the bench is busy
 * measuring; the parent polls the file until the ready line shows up.
 */
#include "envproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void envproc_default_path(char *buf, size_t size)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(buf, size, "build/envd");
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(buf, size, "%s/envd", exe);
}

/* Reads the log so far; fills endpoints and returns 1 once "ready" is in it. */
static int scan_log(envproc_t *p)
{
    FILE *f = fopen(p->log_path, "r");
    if (!f)
        return 0;
    char line[1024];
    int ready = 0;
    p->nendpoints = 0;
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, " listening on ");
        if (at && p->nendpoints < ENVPROC_MAX_BINDS) {
            at += strlen(" listening on ");
            size_t len = strcspn(at, " \r\n");
            snprintf(p->endpoints[p->nendpoints++], sizeof p->endpoints[0], "%.*s", (int)len, at);
        }
        if (strstr(line, " ready"))
            ready = 1;
    }
    fclose(f);
    return ready;
}

int envproc_start(envproc_t *p, const char *envd, const char *dir, const char *const *args,
                  int timeout_ms, errbuf_t *e)
{
    memset(p, 0, sizeof *p);
    snprintf(p->log_path, sizeof p->log_path, "%s/envd.log", dir);
    if (access(envd, X_OK) < 0)
        return err_set(e, ERR_IO, "%s: %s (run `make` first)", envd, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return err_set(e, ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Die with the bench; and if it already died, do not start. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        const char *argv[64];
        size_t n = 0;
        argv[n++] = envd;
        for (size_t i = 0; args[i] && n < 63; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(envd, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", envd, strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    for (int waited = 0; waited < timeout_ms; waited += 5) {
        if (scan_log(p))
            return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            p->pid = 0;
            return err_set(e, ERR_IO, "envd exited during start-up (status %d); see %s",
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1, p->log_path);
        }
        sleep_ms(5);
    }
    envproc_stop(p, 1000);
    return err_set(e, ERR_TIMEOUT, "envd not ready within %d ms; see %s", timeout_ms,
                   p->log_path);
}

long envproc_status_kb(const envproc_t *p, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t flen = strlen(field);
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

long envproc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime) follow the command, which is in
     * parentheses and may itself hold spaces: count from the last ')'. */
    char *p = strrchr(buf, ')');
    unsigned long utime, stime;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                     &stime) != 2)
        return -1;
    return (long)(utime + stime);
}

int envproc_stop(envproc_t *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int status = 0;
    for (int waited = 0;; waited += 5) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid || (r < 0 && errno != EINTR))
            break;
        if (waited >= timeout_ms) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        sleep_ms(5);
    }
    p->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
