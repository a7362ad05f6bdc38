#!/usr/bin/env bash
# The Go package as a user outside this repository gets it (make check-go-consumer):
#  1. `make install PREFIX=<tmp>`; a throw-away module in a temporary
#     directory imports github.com/gracefd/gracefd/go by its module path, with
#     only a `replace` to this tree's go/ and PKG_CONFIG_PATH at the install;
#     it builds, and a tiny ServeHTTP server is upgraded under load: 0 failed.
#  2. A reinstalled library is picked up by a plain `go build` (no -a): the
#     archive is reinstalled with another version string, the consumer is
#     built again with CGO_CPPFLAGS=-DGRACEFD_BUILD_ID=$(pkg-config
#     --variable=build_id gracefd) as docs/go.md says, and it reports the new
#     version. (Go does not key its cache on pkg-config's output: built
#     without that variable, the binary would keep the old library.)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
GO=${GO:-go}
UPGRADES=${UPGRADES:-10}
repo=$PWD

start_work go-consumer
fail() {
  echo "test-go-consumer: FAIL: $*"
  [ -s "$work/server.log" ] && tail -n 20 "$work/server.log"
  exit 1
}
prefix=$work/prefix
make --no-print-directory install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# Nothing from the network, nothing from this tree's environment.
export GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=1
export GOFLAGS=-mod=mod
unset CGO_CPPFLAGS CGO_CFLAGS CGO_LDFLAGS

mkdir "$work/app"
cat >"$work/app/go.mod" <<MOD
module example.com/consumer

go 1.22

require github.com/gracefd/gracefd/go v0.0.0

replace github.com/gracefd/gracefd/go => $repo/go
MOD
cat >"$work/app/main.go" <<'SRC'
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/gracefd/gracefd/go"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(gracefd.Version())
		return
	}
	ln, err := gracefd.Listen("http", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", fmt.Sprint(os.Getpid())) // loadgen counts the generations by it
		fmt.Fprintf(w, "hello from %d\n", os.Getpid())
	})}
	logf := log.New(os.Stderr, fmt.Sprintf("app[%d]: ", os.Getpid()), 0).Printf
	if err := gracefd.ServeHTTP(context.Background(), srv, []net.Listener{ln}, &gracefd.ServeOptions{Logf: logf}); err != nil {
		log.Fatal(err)
	}
}
SRC
build() { # plain go build, the build id of the installed library in CGO_CPPFLAGS
  (cd "$work/app" && CGO_CPPFLAGS="-DGRACEFD_BUILD_ID=$(pkg-config --variable=build_id gracefd)" "$GO" build -o app .)
}
build || fail "the consumer module does not build"
echo "test-go-consumer: built example.com/consumer against $(pkg-config --cflags --libs gracefd)"

# ---- 1. upgrades under load ------------------------------------------------
port=$(free_port)
"$work/app/app" "127.0.0.1:$port" 2>"$work/server.log" &
server=$!
wait_http "$port"
start_load "$port" "$work/load.json" --keepalive 8 --new 4
serving=$server
for i in $(seq "$UPGRADES"); do
  kill -HUP "$serving"
  next=""
  for _ in $(seq 1000); do
    next=$(sed -n "s/^app\[$serving\]: upgrade: pid \([0-9]*\) is ready.*/\1/p" "$work/server.log" | tail -n 1)
    [ -n "$next" ] && break
    sleep 0.01
  done
  [ -n "$next" ] || fail "upgrade $i of pid $serving did not complete"
  echo "app[0]: as pid $next" >>"$work/server.log" # for the clean-up (pids_in_log)
  serving=$next
  sleep 0.05
done
sleep 0.2
stop_load "$work/load.json"; res=$LOAD_RESULT
[ "$(json_field "$res" failures)" = 0 ] || fail "requests failed: $res"
[ "$(json_field "$res" distinct_pids)" -ge 2 ] || fail "only one pid answered: $res"
echo "test-go-consumer: $UPGRADES upgrades under load: $(json_field "$res" requests) requests, 0 failed, $(json_field "$res" distinct_pids) generations answered"
stop_pids $server $(pids_in_log "$work/server.log")
server=""

# ---- 2. a reinstalled library is picked up -----------------------------------
before=$("$work/app/app" -version)
[ "$before" = "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)" ] || fail "version $before"
# Another build of the library, as far as the program can tell: the same
# archive with another version string (same length, so the archive stays valid).
python3 - "$repo/build/lib/libgracefd.a" "$work/libgracefd.a" "$before" <<'PY'
import sys
src, dst, old = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src, "rb").read()
new = ".".join("9" * len(p) for p in old.split("."))
key = old.encode() + b"\0"
assert data.count(key) == 1, "the version string is not in the archive exactly once"
open(dst, "wb").write(data.replace(key, new.encode() + b"\0"))
PY
make --no-print-directory install PREFIX="$prefix" LIB="$work/libgracefd.a" >/dev/null
build || fail "the rebuild failed"
after=$("$work/app/app" -version)
want=$(echo "$before" | sed 's/[0-9]/9/g')
[ "$after" = "$want" ] || fail "after reinstalling, a plain go build still runs version $after (want $want)"
echo "test-go-consumer: reinstalled library picked up by a plain go build: version $before -> $after"
