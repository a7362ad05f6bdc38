package rustside_test

// libgracefd.a links into a Go program beside a Rust static library built
// with std (the common case of a Go service that already uses a Rust
// library), in either order on the link line, with no linker flag for
// libgracefd beyond the archive itself: the -l flags are the std archive's
// own, exactly what cargo says it needs.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// run runs a command (bounded) in dir and returns its combined output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func root(t *testing.T) string {
	r, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func hashFiles(t *testing.T, paths ...string) string {
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run `make lib` first)", err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func TestLinkBesideAStdRustStaticlib(t *testing.T) {
	repo := root(t)
	cargo := os.Getenv("CARGO")
	if cargo == "" {
		cargo = "cargo"
	}
	manifest := filepath.Join(repo, "go-examples/internal/rustside/Cargo.toml")
	cargoEnv := []string{"CARGO_TARGET_DIR=" + filepath.Join(repo, "build/go-rustside")}
	run(t, repo, cargoEnv, cargo, "build", "--release", "--offline", "--locked", "--manifest-path", manifest)

	// The std archive's own native libraries, as cargo prints them, are
	// exactly the -l flags the program declares for it (plus the implicit -lc).
	out := run(t, repo, cargoEnv, cargo, "rustc", "--release", "--offline", "--locked", "--manifest-path", manifest, "--", "--print", "native-static-libs")
	m := regexp.MustCompile(`native-static-libs: (.*)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no native-static-libs in cargo's output:\n%s", out)
	}
	need := strings.Fields(m[1])
	src, err := os.ReadFile("linkboth/order_rust_first.go")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^// #cgo LDFLAGS: (.*)$`).FindSubmatch(src)
	if line == nil {
		t.Fatal("no #cgo LDFLAGS line in linkboth/order_rust_first.go")
	}
	declared := regexp.MustCompile(`(^|\s)(-l\w+)`).FindAllString(string(line[1]), -1)
	for i := range declared {
		declared[i] = strings.TrimSpace(declared[i])
	}
	want := append(append([]string{}, declared...), "-lc")
	sort.Strings(need)
	sort.Strings(want)
	if strings.Join(need, " ") != strings.Join(want, " ") {
		t.Fatalf("the std archive needs %v, linkboth declares %v (+ -lc)", need, declared)
	}

	// Package gracefd itself asks for nothing but the archive: no #cgo
	// LDFLAGS of its own, and pkg-config names only libgracefd.
	flags := strings.TrimSpace(run(t, ".", nil, goTool(), "list", "-f", "{{join .CgoLDFLAGS \" \"}}|{{join .CgoPkgConfig \" \"}}", "github.com/gracefd/gracefd/go"))
	if flags != "|gracefd" {
		t.Fatalf("package gracefd's #cgo LDFLAGS|pkg-config are %q, want |gracefd", flags)
	}
	libs := strings.Fields(run(t, ".", nil, "pkg-config", "--libs", "gracefd"))
	if len(libs) != 2 || !strings.HasPrefix(libs[0], "-L") || libs[1] != "-lgracefd" {
		t.Fatalf("pkg-config --libs gracefd = %q, want -L<dir> -lgracefd", libs)
	}

	// Go's build cache does not see librustside.a change: key the link on it.
	key := hashFiles(t, filepath.Join(repo, "build/go-rustside/release/librustside.a"))
	for _, tags := range []string{"gracefd_rustside", "gracefd_rustside,gracefd_order_b"} {
		bin := filepath.Join(t.TempDir(), "linkboth")
		run(t, ".", nil, goTool(), "build", "-tags", tags, "-ldflags=-X=main.linkKey="+key, "-o", bin, "./linkboth")
		got := run(t, ".", nil, bin)
		wantOut := "hello from std Rust: 5050 (panic caught: true)\n" +
			"gracefd " + gracefdVersion(t, repo) + " listening on tcp\n" +
			`gracefd: Listen: address "127.0.0.1:99999": port "99999" is above 65535 (invalid argument (EINVAL))` + "\n"
		if got != wantOut {
			t.Fatalf("tags %s: output\n%s\nwant\n%s", tags, got, wantOut)
		}
		t.Logf("tags %s: linked and ran:\n%s", tags, got)
	}
}

// goTool is the go command: $GRACEFD_GO (the Makefile's), else the one of
// the toolchain that built this test.
func goTool() string {
	if g := os.Getenv("GRACEFD_GO"); g != "" {
		return g
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func gracefdVersion(t *testing.T, repo string) string {
	b, err := os.ReadFile(filepath.Join(repo, "Cargo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version = "([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no version in Cargo.toml")
	}
	return string(m[1])
}
