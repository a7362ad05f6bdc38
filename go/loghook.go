package gracefd

/*
#include "gracefd.h"
void gfd_log_trampoline(void *user, int level, const char *message);
*/
import "C"

import "sync/atomic"

// Syslog levels of the messages [SetLogHook] receives (GRACEFD_LOG_* in
// gracefd.h).
const (
	LogErr     = 3 // error conditions
	LogWarning = 4 // warnings, such as a rejected inherited fd
	LogNotice  = 5 // significant events, such as an upgrade finished
	LogInfo    = 6 // informational events
	LogDebug   = 7 // debugging detail
)

// The values above are gracefd.h's: this does not compile otherwise (the
// index is a sum of squares of the differences, out of range unless all are 0).
var _ = [1]struct{}{}[(LogErr-C.GRACEFD_LOG_ERR)*(LogErr-C.GRACEFD_LOG_ERR)+
	(LogWarning-C.GRACEFD_LOG_WARNING)*(LogWarning-C.GRACEFD_LOG_WARNING)+
	(LogNotice-C.GRACEFD_LOG_NOTICE)*(LogNotice-C.GRACEFD_LOG_NOTICE)+
	(LogInfo-C.GRACEFD_LOG_INFO)*(LogInfo-C.GRACEFD_LOG_INFO)+
	(LogDebug-C.GRACEFD_LOG_DEBUG)*(LogDebug-C.GRACEFD_LOG_DEBUG)]

var logHook atomic.Pointer[func(level int, msg string)]

//export gfdGoLog
func gfdGoLog(level C.int, msg *C.char) {
	if f := logHook.Load(); f != nil {
		(*f)(int(level), C.GoString(msg))
	}
}

// SetLogHook makes f receive the library's internal events of level
// maxLevel and more severe (numerically lower): an upgrade started, a new
// generation failed and why, an inherited fd was rejected… Each message is
// one line starting with "gracefd[<pid>]: ". f is called on whichever
// goroutine made the library call that produced the event, possibly while
// that call is in progress; it must not block for long. A nil f removes the
// hook. Without a hook the library prints nothing. Start-up warnings (from
// before main) are delivered when the hook is set.
//
// Errors: EINVAL if maxLevel is not 0–7.
func SetLogHook(f func(level int, msg string), maxLevel int) error {
	if f == nil {
		C.gracefd_set_log_hook(nil, nil, 0)
		logHook.Store(nil)
		return nil
	}
	if maxLevel < 0 || maxLevel > 7 {
		return invalid("SetLogHook", "maxLevel must be 0–7")
	}
	logHook.Store(&f)
	C.gracefd_set_log_hook(C.gracefd_log_fn(C.gfd_log_trampoline), nil, C.int(maxLevel))
	return nil
}
