/* The spawn floor of CHAIN-1000: 1000 `true` run one after another, started four ways, with
 * no workflow engine at all. It measures what the way a runner starts and contains a tool
 * costs before the runner does any work of its own (bench/spawn-floor.sh runs it beside GNU
 * make running the same chain).
 *
 *   spawn  posix_spawn + waitpid in the process that decides what runs next: what GNU make
 *          does (a vfork, so the tool's peak RSS folds in the spawning process's, see
 *          docs/benchmarks.md).
 *   fork   fork + the child set-up secflow's shim does (own process group, four signal
 *          dispositions reset, stdin /dev/null, working directory, empty mask) + execve,
 *          then wait4, in the process that decides what runs next.
 *   hop    secflow's shape (SPEC §10): the deciding process sends each attempt to a second,
 *          small process (a shim: a child subreaper, so orphans come back to it), which
 *          forks and sets up the tool as above, reports its pid, waits for it, checks for
 *          leftovers with one waitid(P_ALL, WNOHANG|WNOWAIT), and reports the end. The
 *          deciding process does nothing but send the next request.
 *   hop-vfork  hop with vfork in the shim instead of fork: the tool's peak RSS would then
 *          include the shim's (why secflow forks), shown for what it would save.
 *
 * Usage: spawn_floor spawn|fork|hop|hop-vfork [N]   (N default 1000)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char *const tool_argv[] = {"true", NULL};
static const char *tool_path = "/usr/bin/true";

static void die(const char *what) {
    perror(what);
    exit(2);
}

/* fork + set-up + execve, then wait4: returns the wait status. `report` (or -1) gets the
 * pid as soon as the tool exists, as the shim reports it. */
static int use_vfork;

static int fork_and_wait(int report) {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) die("open /dev/null");
    pid_t pid = use_vfork ? vfork() : fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        sigset_t empty;
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        dup2(null, 0);
        if (chdir("/tmp") != 0) _exit(126);
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        execve(tool_path, tool_argv, environ);
        _exit(127);
    }
    setpgid(pid, pid);
    close(null);
    if (report >= 0 && write(report, &pid, sizeof pid) != sizeof pid) die("report pid");
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) != pid) die("wait4");
    return status;
}

static void run_spawn(int n) {
    for (int i = 0; i < n; i++) {
        pid_t pid;
        int status;
        if (posix_spawn(&pid, tool_path, NULL, NULL, tool_argv, environ) != 0) die("posix_spawn");
        if (waitpid(pid, &status, 0) != pid) die("waitpid");
    }
}

static void run_fork(int n) {
    for (int i = 0; i < n; i++) fork_and_wait(-1);
}

/* The shim: one request in, the pid and the end out, until the socket closes. */
static void shim(int sock) {
    char request[256];
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    while (read(sock, request, sizeof request) > 0) {
        int status = fork_and_wait(sock);
        siginfo_t info;
        memset(&info, 0, sizeof info);
        /* Leftovers? (none here: `true` forks nothing) */
        waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
        if (write(sock, &status, sizeof status) != sizeof status) die("report end");
    }
    _exit(0);
}

static void run_hop(int n) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    pid_t child = fork();
    if (child < 0) die("fork shim");
    if (child == 0) {
        close(sv[0]);
        shim(sv[1]);
    }
    close(sv[1]);
    /* About the size of secflow's request (argv, environment, directory). */
    char request[200];
    memset(request, 'x', sizeof request);
    for (int i = 0; i < n; i++) {
        pid_t pid;
        int status;
        if (write(sv[0], request, sizeof request) != sizeof request) die("request");
        if (read(sv[0], &pid, sizeof pid) != sizeof pid) die("read pid");
        if (read(sv[0], &status, sizeof status) != sizeof status) die("read end");
    }
    close(sv[0]);
    waitpid(child, NULL, 0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: spawn_floor spawn|fork|hop|hop-vfork [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    if (!strcmp(argv[1], "spawn")) run_spawn(n);
    else if (!strcmp(argv[1], "fork")) run_fork(n);
    else if (!strcmp(argv[1], "hop")) run_hop(n);
    else if (!strcmp(argv[1], "hop-vfork")) {
        use_vfork = 1;
        run_hop(n);
    }
    else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    return 0;
}
