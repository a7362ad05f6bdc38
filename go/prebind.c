/* The C side of ListenOptions.Control: the library calls this trampoline
 * between socket(2) and bind(2); it calls the Go function exported from
 * prebind.go with the cgo.Handle it was given. */
#include <stdint.h>

#include "_cgo_export.h"

int gfd_pre_bind_trampoline(int fd, void *userdata) {
    return gfdGoPreBind(fd, (uintptr_t)userdata);
}
