/* hello.c: what libgracefd.a adds to a C program (make bench).
 *
 * Built twice, -O2 and stripped: with -DWITH_GRACEFD it prints
 * gracefd_version_number() and links libgracefd.a; without, it prints 0.
 */
#include <stdio.h>

#ifdef WITH_GRACEFD
#include "gracefd.h"
#endif

int main(void) {
#ifdef WITH_GRACEFD
    unsigned v = gracefd_version_number();
#else
    unsigned v = 0;
#endif
    printf("hello, version %u\n", v);
    return 0;
}
