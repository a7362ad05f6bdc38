/work/wt/integ/fuzz/target/debug/deps/gracefd-11d31c7915040ee9.d: /work/wt/integ/src/lib.rs /work/wt/integ/src/error.rs /work/wt/integ/src/log/mod.rs /work/wt/integ/src/log/deferred.rs /work/wt/integ/src/child_setup.rs /work/wt/integ/src/conns/mod.rs /work/wt/integ/src/conns/receive.rs /work/wt/integ/src/conns/send.rs /work/wt/integ/src/daemon/mod.rs /work/wt/integ/src/daemon/creds.rs /work/wt/integ/src/daemon/launch.rs /work/wt/integ/src/daemon/marker.rs /work/wt/integ/src/daemon/middle.rs /work/wt/integ/src/daemon/options.rs /work/wt/integ/src/daemon/setup.rs /work/wt/integ/src/daemon/verdict.rs /work/wt/integ/src/events.rs /work/wt/integ/src/handoff/mod.rs /work/wt/integ/src/handoff/receive.rs /work/wt/integ/src/handoff/send.rs /work/wt/integ/src/handoff/serve.rs /work/wt/integ/src/handoff/take.rs /work/wt/integ/src/handoff/takers.rs /work/wt/integ/src/lineage.rs /work/wt/integ/src/listeners/mod.rs /work/wt/integ/src/listeners/bind.rs /work/wt/integ/src/listeners/choose.rs /work/wt/integ/src/listeners/key.rs /work/wt/integ/src/listeners/unix_path.rs /work/wt/integ/src/notify.rs /work/wt/integ/src/pidfile.rs /work/wt/integ/src/proto/mod.rs /work/wt/integ/src/proto/addr.rs /work/wt/integ/src/proto/conns.rs /work/wt/integ/src/proto/daemon.rs /work/wt/integ/src/proto/handoff/mod.rs /work/wt/integ/src/proto/listen_env.rs /work/wt/integ/src/proto/notify.rs /work/wt/integ/src/proto/num.rs /work/wt/integ/src/proto/ready.rs /work/wt/integ/src/ready.rs /work/wt/integ/src/registry/mod.rs /work/wt/integ/src/registry/entry.rs /work/wt/integ/src/registry/load.rs /work/wt/integ/src/registry/table.rs /work/wt/integ/src/safe_path/mod.rs /work/wt/integ/src/safe_path/dir.rs /work/wt/integ/src/safe_path/file.rs /work/wt/integ/src/safe_path/socket.rs /work/wt/integ/src/spawn/mod.rs /work/wt/integ/src/spawn/child.rs /work/wt/integ/src/startup.rs /work/wt/integ/src/sync.rs /work/wt/integ/src/sys/mod.rs /work/wt/integ/src/sys/clone.rs /work/wt/integ/src/sys/fd.rs /work/wt/integ/src/sys/fs.rs /work/wt/integ/src/sys/poll.rs /work/wt/integ/src/sys/process.rs /work/wt/integ/src/sys/sigfd.rs /work/wt/integ/src/sys/signal.rs /work/wt/integ/src/sys/socket.rs /work/wt/integ/src/sys/thread.rs /work/wt/integ/src/sys/time.rs /work/wt/integ/src/upgrade.rs /work/wt/integ/src/version.rs /work/wt/integ/src/nostd.rs /work/wt/integ/src/api/mod.rs /work/wt/integ/src/api/conns.rs /work/wt/integ/src/api/daemon.rs /work/wt/integ/src/api/error.rs /work/wt/integ/src/api/events.rs /work/wt/integ/src/api/fds.rs /work/wt/integ/src/api/handoff.rs /work/wt/integ/src/api/lifecycle.rs /work/wt/integ/src/api/listen.rs /work/wt/integ/src/api/log.rs /work/wt/integ/src/api/millis.rs /work/wt/integ/src/api/notify.rs /work/wt/integ/src/api/signal.rs /work/wt/integ/src/api/upgrade.rs

/work/wt/integ/fuzz/target/debug/deps/libgracefd-11d31c7915040ee9.rlib: /work/wt/integ/src/lib.rs /work/wt/integ/src/error.rs /work/wt/integ/src/log/mod.rs /work/wt/integ/src/log/deferred.rs /work/wt/integ/src/child_setup.rs /work/wt/integ/src/conns/mod.rs /work/wt/integ/src/conns/receive.rs /work/wt/integ/src/conns/send.rs /work/wt/integ/src/daemon/mod.rs /work/wt/integ/src/daemon/creds.rs /work/wt/integ/src/daemon/launch.rs /work/wt/integ/src/daemon/marker.rs /work/wt/integ/src/daemon/middle.rs /work/wt/integ/src/daemon/options.rs /work/wt/integ/src/daemon/setup.rs /work/wt/integ/src/daemon/verdict.rs /work/wt/integ/src/events.rs /work/wt/integ/src/handoff/mod.rs /work/wt/integ/src/handoff/receive.rs /work/wt/integ/src/handoff/send.rs /work/wt/integ/src/handoff/serve.rs /work/wt/integ/src/handoff/take.rs /work/wt/integ/src/handoff/takers.rs /work/wt/integ/src/lineage.rs /work/wt/integ/src/listeners/mod.rs /work/wt/integ/src/listeners/bind.rs /work/wt/integ/src/listeners/choose.rs /work/wt/integ/src/listeners/key.rs /work/wt/integ/src/listeners/unix_path.rs /work/wt/integ/src/notify.rs /work/wt/integ/src/pidfile.rs /work/wt/integ/src/proto/mod.rs /work/wt/integ/src/proto/addr.rs /work/wt/integ/src/proto/conns.rs /work/wt/integ/src/proto/daemon.rs /work/wt/integ/src/proto/handoff/mod.rs /work/wt/integ/src/proto/listen_env.rs /work/wt/integ/src/proto/notify.rs /work/wt/integ/src/proto/num.rs /work/wt/integ/src/proto/ready.rs /work/wt/integ/src/ready.rs /work/wt/integ/src/registry/mod.rs /work/wt/integ/src/registry/entry.rs /work/wt/integ/src/registry/load.rs /work/wt/integ/src/registry/table.rs /work/wt/integ/src/safe_path/mod.rs /work/wt/integ/src/safe_path/dir.rs /work/wt/integ/src/safe_path/file.rs /work/wt/integ/src/safe_path/socket.rs /work/wt/integ/src/spawn/mod.rs /work/wt/integ/src/spawn/child.rs /work/wt/integ/src/startup.rs /work/wt/integ/src/sync.rs /work/wt/integ/src/sys/mod.rs /work/wt/integ/src/sys/clone.rs /work/wt/integ/src/sys/fd.rs /work/wt/integ/src/sys/fs.rs /work/wt/integ/src/sys/poll.rs /work/wt/integ/src/sys/process.rs /work/wt/integ/src/sys/sigfd.rs /work/wt/integ/src/sys/signal.rs /work/wt/integ/src/sys/socket.rs /work/wt/integ/src/sys/thread.rs /work/wt/integ/src/sys/time.rs /work/wt/integ/src/upgrade.rs /work/wt/integ/src/version.rs /work/wt/integ/src/nostd.rs /work/wt/integ/src/api/mod.rs /work/wt/integ/src/api/conns.rs /work/wt/integ/src/api/daemon.rs /work/wt/integ/src/api/error.rs /work/wt/integ/src/api/events.rs /work/wt/integ/src/api/fds.rs /work/wt/integ/src/api/handoff.rs /work/wt/integ/src/api/lifecycle.rs /work/wt/integ/src/api/listen.rs /work/wt/integ/src/api/log.rs /work/wt/integ/src/api/millis.rs /work/wt/integ/src/api/notify.rs /work/wt/integ/src/api/signal.rs /work/wt/integ/src/api/upgrade.rs

/work/wt/integ/fuzz/target/debug/deps/libgracefd-11d31c7915040ee9.rmeta: /work/wt/integ/src/lib.rs /work/wt/integ/src/error.rs /work/wt/integ/src/log/mod.rs /work/wt/integ/src/log/deferred.rs /work/wt/integ/src/child_setup.rs /work/wt/integ/src/conns/mod.rs /work/wt/integ/src/conns/receive.rs /work/wt/integ/src/conns/send.rs /work/wt/integ/src/daemon/mod.rs /work/wt/integ/src/daemon/creds.rs /work/wt/integ/src/daemon/launch.rs /work/wt/integ/src/daemon/marker.rs /work/wt/integ/src/daemon/middle.rs /work/wt/integ/src/daemon/options.rs /work/wt/integ/src/daemon/setup.rs /work/wt/integ/src/daemon/verdict.rs /work/wt/integ/src/events.rs /work/wt/integ/src/handoff/mod.rs /work/wt/integ/src/handoff/receive.rs /work/wt/integ/src/handoff/send.rs /work/wt/integ/src/handoff/serve.rs /work/wt/integ/src/handoff/take.rs /work/wt/integ/src/handoff/takers.rs /work/wt/integ/src/lineage.rs /work/wt/integ/src/listeners/mod.rs /work/wt/integ/src/listeners/bind.rs /work/wt/integ/src/listeners/choose.rs /work/wt/integ/src/listeners/key.rs /work/wt/integ/src/listeners/unix_path.rs /work/wt/integ/src/notify.rs /work/wt/integ/src/pidfile.rs /work/wt/integ/src/proto/mod.rs /work/wt/integ/src/proto/addr.rs /work/wt/integ/src/proto/conns.rs /work/wt/integ/src/proto/daemon.rs /work/wt/integ/src/proto/handoff/mod.rs /work/wt/integ/src/proto/listen_env.rs /work/wt/integ/src/proto/notify.rs /work/wt/integ/src/proto/num.rs /work/wt/integ/src/proto/ready.rs /work/wt/integ/src/ready.rs /work/wt/integ/src/registry/mod.rs /work/wt/integ/src/registry/entry.rs /work/wt/integ/src/registry/load.rs /work/wt/integ/src/registry/table.rs /work/wt/integ/src/safe_path/mod.rs /work/wt/integ/src/safe_path/dir.rs /work/wt/integ/src/safe_path/file.rs /work/wt/integ/src/safe_path/socket.rs /work/wt/integ/src/spawn/mod.rs /work/wt/integ/src/spawn/child.rs /work/wt/integ/src/startup.rs /work/wt/integ/src/sync.rs /work/wt/integ/src/sys/mod.rs /work/wt/integ/src/sys/clone.rs /work/wt/integ/src/sys/fd.rs /work/wt/integ/src/sys/fs.rs /work/wt/integ/src/sys/poll.rs /work/wt/integ/src/sys/process.rs /work/wt/integ/src/sys/sigfd.rs /work/wt/integ/src/sys/signal.rs /work/wt/integ/src/sys/socket.rs /work/wt/integ/src/sys/thread.rs /work/wt/integ/src/sys/time.rs /work/wt/integ/src/upgrade.rs /work/wt/integ/src/version.rs /work/wt/integ/src/nostd.rs /work/wt/integ/src/api/mod.rs /work/wt/integ/src/api/conns.rs /work/wt/integ/src/api/daemon.rs /work/wt/integ/src/api/error.rs /work/wt/integ/src/api/events.rs /work/wt/integ/src/api/fds.rs /work/wt/integ/src/api/handoff.rs /work/wt/integ/src/api/lifecycle.rs /work/wt/integ/src/api/listen.rs /work/wt/integ/src/api/log.rs /work/wt/integ/src/api/millis.rs /work/wt/integ/src/api/notify.rs /work/wt/integ/src/api/signal.rs /work/wt/integ/src/api/upgrade.rs

/work/wt/integ/src/lib.rs:
/work/wt/integ/src/error.rs:
/work/wt/integ/src/log/mod.rs:
/work/wt/integ/src/log/deferred.rs:
/work/wt/integ/src/child_setup.rs:
/work/wt/integ/src/conns/mod.rs:
/work/wt/integ/src/conns/receive.rs:
/work/wt/integ/src/conns/send.rs:
/work/wt/integ/src/daemon/mod.rs:
/work/wt/integ/src/daemon/creds.rs:
/work/wt/integ/src/daemon/launch.rs:
/work/wt/integ/src/daemon/marker.rs:
/work/wt/integ/src/daemon/middle.rs:
/work/wt/integ/src/daemon/options.rs:
/work/wt/integ/src/daemon/setup.rs:
/work/wt/integ/src/daemon/verdict.rs:
/work/wt/integ/src/events.rs:
/work/wt/integ/src/handoff/mod.rs:
/work/wt/integ/src/handoff/receive.rs:
/work/wt/integ/src/handoff/send.rs:
/work/wt/integ/src/handoff/serve.rs:
/work/wt/integ/src/handoff/take.rs:
/work/wt/integ/src/handoff/takers.rs:
/work/wt/integ/src/lineage.rs:
/work/wt/integ/src/listeners/mod.rs:
/work/wt/integ/src/listeners/bind.rs:
/work/wt/integ/src/listeners/choose.rs:
/work/wt/integ/src/listeners/key.rs:
/work/wt/integ/src/listeners/unix_path.rs:
/work/wt/integ/src/notify.rs:
/work/wt/integ/src/pidfile.rs:
/work/wt/integ/src/proto/mod.rs:
/work/wt/integ/src/proto/addr.rs:
/work/wt/integ/src/proto/conns.rs:
/work/wt/integ/src/proto/daemon.rs:
/work/wt/integ/src/proto/handoff/mod.rs:
/work/wt/integ/src/proto/listen_env.rs:
/work/wt/integ/src/proto/notify.rs:
/work/wt/integ/src/proto/num.rs:
/work/wt/integ/src/proto/ready.rs:
/work/wt/integ/src/ready.rs:
/work/wt/integ/src/registry/mod.rs:
/work/wt/integ/src/registry/entry.rs:
/work/wt/integ/src/registry/load.rs:
/work/wt/integ/src/registry/table.rs:
/work/wt/integ/src/safe_path/mod.rs:
/work/wt/integ/src/safe_path/dir.rs:
/work/wt/integ/src/safe_path/file.rs:
/work/wt/integ/src/safe_path/socket.rs:
/work/wt/integ/src/spawn/mod.rs:
/work/wt/integ/src/spawn/child.rs:
/work/wt/integ/src/startup.rs:
/work/wt/integ/src/sync.rs:
/work/wt/integ/src/sys/mod.rs:
/work/wt/integ/src/sys/clone.rs:
/work/wt/integ/src/sys/fd.rs:
/work/wt/integ/src/sys/fs.rs:
/work/wt/integ/src/sys/poll.rs:
/work/wt/integ/src/sys/process.rs:
/work/wt/integ/src/sys/sigfd.rs:
/work/wt/integ/src/sys/signal.rs:
/work/wt/integ/src/sys/socket.rs:
/work/wt/integ/src/sys/thread.rs:
/work/wt/integ/src/sys/time.rs:
/work/wt/integ/src/upgrade.rs:
/work/wt/integ/src/version.rs:
/work/wt/integ/src/nostd.rs:
/work/wt/integ/src/api/mod.rs:
/work/wt/integ/src/api/conns.rs:
/work/wt/integ/src/api/daemon.rs:
/work/wt/integ/src/api/error.rs:
/work/wt/integ/src/api/events.rs:
/work/wt/integ/src/api/fds.rs:
/work/wt/integ/src/api/handoff.rs:
/work/wt/integ/src/api/lifecycle.rs:
/work/wt/integ/src/api/listen.rs:
/work/wt/integ/src/api/log.rs:
/work/wt/integ/src/api/millis.rs:
/work/wt/integ/src/api/notify.rs:
/work/wt/integ/src/api/signal.rs:
/work/wt/integ/src/api/upgrade.rs:

# env-dep:CARGO_PKG_VERSION=0.1.0
# env-dep:CARGO_PKG_VERSION_MAJOR=0
# env-dep:CARGO_PKG_VERSION_MINOR=1
# env-dep:CARGO_PKG_VERSION_PATCH=0
