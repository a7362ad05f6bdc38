#!/usr/bin/env bash
# tools/prereqs.sh [demo|check] — the one list of what building and testing
# gracefd needs, checked (and installed when possible) before `make demo`,
# `make check`, `make check-fast` and .ci/run.
#
# - Everything present: prints nothing, exits 0. Safe to run any number of times.
# - Something missing and this process is root with apt-get: runs
#   `apt-get update` once and `apt-get install` once for every missing
#   package, and `rustup component add clippy` when clippy is missing.
# - Otherwise: lists EVERY missing thing at once, each with the command that
#   installs it, and exits 1.
#
# Environment:
#   GRACEFD_PREREQS_INSTALL=never   only check and report, never install
#   GRACEFD_SKIP_PREREQS=1          do nothing (you manage the machine yourself)
#   GO=/path/to/go                  the Go toolchain to check (as mk/go.mk)
set -uo pipefail

profile=${1:-check}
case $profile in
  demo|check) ;;
  *) echo "usage: tools/prereqs.sh [demo|check]" >&2; exit 2 ;;
esac
[ "${GRACEFD_SKIP_PREREQS:-}" = 1 ] && exit 0

PACKAGES=()   # Debian package names wanted by this profile
declare -A PROBE=()  # package → a command that finds it without dpkg (pip, pyenv…)
TOOLS=()      # "name<TAB>probe command<TAB>install command<TAB>auto|manual"

# package NAME PROFILES WHY [PROBE] — a Debian package. With PROBE (a shell
# command), what it provides also counts when installed another way.
package() {
  case " $2 " in *" $profile "*) PACKAGES+=("$1"); [ -n "${4:-}" ] && PROBE[$1]=$4 ;; esac
  return 0
}
# tool NAME PROFILES PROBE INSTALL [auto] — a program that does not come from
# apt here. PROBE is a shell command that succeeds when the tool works;
# INSTALL is shown to the user, and run by this script when marked auto.
tool() {
  case " $2 " in *" $profile "*) TOOLS+=("$1"$'\t'"$3"$'\t'"$4"$'\t'"${5:-manual}") ;; esac
}

go_cmd() {
  if [ -n "${GO:-}" ]; then echo "$GO"
  elif command -v go >/dev/null 2>&1; then command -v go
  else echo /usr/local/go/bin/go; fi
}

# ---------------------------------------------------------------------------
# THE LIST. Add a prerequisite here, and nowhere else; say which profile
# needs it (demo: `make demo`; check: `make check` and `make check-fast`).
# ---------------------------------------------------------------------------
package make                   "demo check" "the build"
package gcc                    "demo check" "C compiler: the C examples, the C tests, loadgen"
package libc6-dev              "demo check" "libc headers and crt files (gcc only recommends it)"
package python3                "demo check" "slimming the C archive, the demo's report, free ports, the CLI tests, doc checks"
package binutils               "demo check" "ar, objcopy, readelf, nm: slimming and checking the C archive"
package g++                    "check"      "the header compiled as C++ (check-cpp)"
package pkg-config             "check"      "finding libsystemd for the interop tests"
package libsystemd-dev         "check"      "interop: a libsystemd child, sd_notify receiver, CLI worker"
package systemd                "check"      "interop: systemd-socket-activate"
package libserver-starter-perl "check"      "interop: Perl's start_server and server_ports()"
package perl                   "check"      "interop: the Server::Starter worker"
package valgrind               "check"      "check-valgrind"
package systemd-container      "check"      "systemd-nspawn for the container tests"
package supervisor             "check"      "interop: supervisord running gracefd"
package afl++                  "check"      "fuzzing the parsers"
package mmdebstrap             "check"      "scratch roots for the fresh-machine test"
package man-db                 "check"      "man -l renders the C API man pages"
package util-linux             "check"      "unshare, setpriv: the deploy tests' pid namespaces"
package python3-gunicorn       "check"      "the deploy tests run gunicorn under gracefd" \
  'python3 -c "import gunicorn"'

tool cargo  "demo check" 'cargo --version' \
  "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh   # then: . \"\$HOME/.cargo/env\""
tool rustc  "demo check" 'rustc --version' \
  "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh   # then: . \"\$HOME/.cargo/env\""
tool clippy "check"      'cargo clippy --version' 'rustup component add clippy' auto
tool go     "check"      '"$(go_cmd)" version' \
  'download Go >= 1.22 from https://go.dev/dl/ and unpack it in /usr/local (or set GO=/path/to/go)'
# ---------------------------------------------------------------------------

missing_packages() {
  [ ${#PACKAGES[@]} -eq 0 ] && return 0
  local installed
  # One query for all; a package dpkg never heard of is simply not printed.
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
              awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }')
  local p
  for p in "${PACKAGES[@]}"; do
    grep -qxF -- "$p" <<<"$installed" && continue
    [ -n "${PROBE[$p]:-}" ] && eval "${PROBE[$p]}" >/dev/null 2>&1 && continue
    echo "$p"
  done
}

missing_tools() {
  local entry name probe
  for entry in "${TOOLS[@]}"; do
    IFS=$'\t' read -r name probe _ _ <<<"$entry"
    eval "$probe" >/dev/null 2>&1 || printf '%s\n' "$entry"
  done
}

have_dpkg=1
command -v dpkg-query >/dev/null 2>&1 || have_dpkg=0

if [ $have_dpkg = 1 ]; then
  mapfile -t need_pkgs < <(missing_packages)
else
  need_pkgs=("${PACKAGES[@]}")
fi
mapfile -t need_tools < <(missing_tools)

[ ${#need_pkgs[@]} -eq 0 ] && [ ${#need_tools[@]} -eq 0 ] && exit 0

can_install=0
if [ "${GRACEFD_PREREQS_INSTALL:-}" != never ] && [ "$(id -u)" = 0 ] &&
   [ $have_dpkg = 1 ] && command -v apt-get >/dev/null 2>&1; then
  can_install=1
fi

# Install what can be installed here, then look again.
if [ ${#need_pkgs[@]} -gt 0 ] && [ $can_install = 1 ]; then
  echo "prereqs ($profile): installing ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Wait for the dpkg lock rather than fail when another install runs.
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 &&
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
  mapfile -t need_pkgs < <(missing_packages)
fi
if [ "${GRACEFD_PREREQS_INSTALL:-}" != never ]; then
  for entry in "${need_tools[@]}"; do
    IFS=$'\t' read -r name _ install how <<<"$entry"
    # Only when the installer itself is there (rustup comes with cargo).
    if [ "$how" = auto ] && command -v "${install%% *}" >/dev/null 2>&1; then
      echo "prereqs ($profile): $install" >&2
      eval "$install" >&2 || true
    fi
  done
  mapfile -t need_tools < <(missing_tools)
fi

[ ${#need_pkgs[@]} -eq 0 ] && [ ${#need_tools[@]} -eq 0 ] && exit 0

# Report everything still missing, with the command that installs it.
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo "
{
  echo "prereqs ($profile): missing — install them and run again:"
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ $have_dpkg = 1 ]; then
      echo "  Debian packages: ${need_pkgs[*]}"
      echo "    ${sudo}apt-get update && ${sudo}apt-get install -y ${need_pkgs[*]}"
    else
      echo "  no dpkg-query here: install the equivalents of these Debian packages:"
      echo "    ${need_pkgs[*]}"
      echo "    (or set GRACEFD_SKIP_PREREQS=1 once you have)"
    fi
  fi
  for entry in "${need_tools[@]}"; do
    IFS=$'\t' read -r name _ install _ <<<"$entry"
    echo "  $name:"
    echo "    $install"
  done
} >&2
exit 1
