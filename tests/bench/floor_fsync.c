/* B2 floor: N appends of a 200-byte line to a file, each followed by fsync. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    const char *path = argc > 2 ? argv[2] : "floor_fsync.out";
    char line[200];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        if (write(fd, line, sizeof line) != (ssize_t)sizeof line || fsync(fd) != 0) {
            perror("write/fsync");
            return 1;
        }
    }
    close(fd);
    unlink(path);
    return 0;
}
