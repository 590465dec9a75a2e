/*
 * rss-exec: run a command and report its exit status, peak RSS, CPU and
 * wall time.
 *
 * Why this exists: Linux carries a process's RSS high-water mark across
 * fork and exec (exec records the old address space's peak in the
 * process's maxrss). A child forked from the ~50 MB Python harness
 * therefore reports at least ~50 MB in wait4()'s ru_maxrss, whatever it
 * really uses. Forking from this tiny static program instead keeps that
 * floor at a few hundred KiB, so ru_maxrss is the tool's own peak.
 *
 * Usage: rss-exec REPORT_FILE CMD [ARGS...]
 * Writes "exit_code max_rss_kib user_s sys_s wall_s\n" to REPORT_FILE
 * (exit_code is -SIGNAL when the command was killed, 127 when it could not
 * be executed) and exits 0; exits 2 when it cannot fork or write the
 * report. stdin/stdout/stderr are inherited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rss-exec REPORT_FILE CMD [ARGS...]\n");
        return 2;
    }
    double started = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("rss-exec: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rss-exec: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("rss-exec: wait4");
            return 2;
        }
    }
    double wall = now() - started;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("rss-exec: report file");
        return 2;
    }
    fprintf(f, "%d %ld %.6f %.6f %.6f\n", code, ru.ru_maxrss,
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
            ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, wall);
    return fclose(f) == 0 ? 0 : 2;
}
