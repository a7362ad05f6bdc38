/* INTERIM (hand-off branch only): registry entry points for C until the
 * listening-sockets branch lands the real registry and gracefd_listen().
 * Not part of the public header. When the real registry is merged:
 *  - gracefd_add_fd() comes from gracefd.h (same signature): drop it here;
 *  - replace gracefd_interim_registry_get(name) with the real lookup, or
 *    with gracefd_listen(name, addr), which finds a taken fd by name;
 *  - delete this file and src/ffi/interim_registry.rs. */
#ifndef GRACEFD_INTERIM_H
#define GRACEFD_INTERIM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Register a CLOEXEC dup of fd under name. 0, -EINVAL (bad name), -EBADF. */
int gracefd_add_fd(const char *name, int fd);
/* A new CLOEXEC dup (caller-owned) of the first entry named name; -ENOENT if none. */
int gracefd_interim_registry_get(const char *name);

#ifdef __cplusplus
}
#endif

#endif
