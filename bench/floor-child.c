/* floor-child.c: the child of bench/spawn-floor.c. main() writes its
 * CLOCK_MONOTONIC time (ns) to fd 3 and exits: the start of a process,
 * nothing else. Built plain, static, and linked with libgracefd.a (whose
 * start-up constructor then runs before main), so the three differ only in
 * what runs between exec and main.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#ifdef WITH_GRACEFD
#include "gracefd.h"
#endif

int main(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#ifdef WITH_GRACEFD
    /* Referenced, so the archive is linked in (and its constructor runs). */
    if (gracefd_version_number() == 0) ns = -ns;
#endif
    return write(3, &ns, sizeof ns) == (ssize_t)sizeof ns ? 0 : 1;
}
