/* notify-only.c: what libgracefd.a adds to a C program that only tells its
 * service manager it is ready (gracefd_notify), for the size section of
 * make bench. Built -O2, stripped, with -Wl,--gc-sections; compare with
 * hello-plain (bench/hello.c without the library).
 */
#include <stdio.h>

#include "gracefd.h"

int main(void) {
    int r = gracefd_notify("READY=1");
    printf("hello, notify %d\n", r);
    return 0;
}
