/* idle_procs: a cheap crowd of idle processes for benches/compare.sh.
 *
 * Usage: idle_procs N [BALLAST_MIB [ties]]
 *
 * Forks N children that block in pause() and die with their parent (PR_SET_PDEATHSIG), then,
 * only in the parent and only after forking, touches BALLAST_MIB MiB of anonymous memory
 * (raises AnonPages so that "-m 99" counts as low memory for both daemons), prints
 * "ready <children> <ballast_mib>" on stdout and waits in pause() until it is signalled.
 * Forked without exec, the children share every page copy-on-write: 10,000 of them cost
 * far less memory than 10,000 `sleep` processes. With `ties` every child raises its own
 * oom_score_adj to 1000 (raising needs no privilege, lowering would): the children then
 * all rank first with the same oom_score and the same RSS, above the ballast holder, and
 * each scan decides among ties. Not a cargo target (cargo discovers only the
 * .rs files in benches/); compare.sh builds it with cc.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4 || (argc == 4 && strcmp(argv[3], "ties") != 0)) {
        fprintf(stderr, "usage: %s N [BALLAST_MIB [ties]]\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    long ballast_mib = argc >= 3 ? strtol(argv[2], NULL, 10) : 0;
    int ties = argc == 4;
    if (n < 0 || n > 100000 || ballast_mib < 0 || ballast_mib > 65536) {
        fprintf(stderr, "idle_procs: N must be 0..100000, BALLAST_MIB 0..65536\n");
        return 2;
    }
    pid_t parent = getpid();
    long made = 0;
    for (; made < n; made++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("idle_procs: fork");
            break;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (ties) {
                FILE *adj = fopen("/proc/self/oom_score_adj", "w");
                if (!adj || fputs("1000\n", adj) < 0 || fclose(adj) != 0)
                    _exit(1);
            }
            if (getppid() != parent) /* the parent died before prctl */
                _exit(0);
            for (;;)
                pause();
        }
    }
    if (ballast_mib > 0) {
        size_t len = (size_t)ballast_mib << 20;
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("idle_procs: mmap");
            ballast_mib = 0;
        } else {
            for (size_t off = 0; off < len; off += 4096)
                p[off] = 1;
        }
    }
    printf("ready %ld %ld\n", made, ballast_mib);
    fflush(stdout);
    for (;;)
        pause();
}
