/* B1 floor: N bare posix_spawn + waitpid of a program (default /bin/true). */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
    char *prog = argc > 2 ? argv[2] : (char *)"/bin/true";
    char *args[] = {prog, NULL};
    for (long i = 0; i < n; i++) {
        pid_t pid;
        int status;
        if (posix_spawn(&pid, prog, NULL, NULL, args, environ) != 0) {
            perror("posix_spawn");
            return 1;
        }
        if (waitpid(pid, &status, 0) < 0) {
            perror("waitpid");
            return 1;
        }
    }
    return 0;
}
