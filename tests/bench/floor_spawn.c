#define _POSIX_C_SOURCE 200809L
/* B1 floor: N bare posix_spawn + waitpid of a program (default /bin/true).
 *
 *   floor_spawn N [PROG [JOURNAL]]
 *
 * With JOURNAL, each spawn is preceded by what a durable engine cannot
 * skip: appending a 200-byte line to JOURNAL and fsyncing it (the record
 * that the program is about to start).  bench.py reports that as B1f, the
 * least any engine journaling its actions can reach on this machine. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
    char *prog = argc > 2 ? argv[2] : (char *)"/bin/true";
    const char *journal = argc > 3 ? argv[3] : NULL;
    char *args[] = {prog, NULL};
    char line[200];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    int fd = -1;
    if (journal != NULL && (fd = open(journal, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600)) < 0) {
        perror(journal);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        pid_t pid;
        int status;
        if (fd >= 0 && (write(fd, line, sizeof line) != (ssize_t)sizeof line || fsync(fd) != 0)) {
            perror("write/fsync");
            return 1;
        }
        if (posix_spawn(&pid, prog, NULL, NULL, args, environ) != 0) {
            perror("posix_spawn");
            return 1;
        }
        if (waitpid(pid, &status, 0) < 0) {
            perror("waitpid");
            return 1;
        }
    }
    if (fd >= 0) {
        close(fd);
        unlink(journal);
    }
    return 0;
}
