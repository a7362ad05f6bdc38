/* The C side of SetLogHook: the library calls this trampoline, which calls
 * the Go function exported from loghook.go. */
#include "gracefd.h"
#include "_cgo_export.h"

void gfd_log_trampoline(void *user, int level, const char *message) {
    (void)user;
    gfdGoLog(level, (char *)message);
}
