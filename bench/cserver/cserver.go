// Package cserver builds the C servers: the reference on raw epoll
// (c/epoll_server.c: edge-triggered, one thread and one SO_REUSEPORT
// listener per loop) and the same servers with their reads and writes on
// io_uring (c/uring_server.c: multishot recv into provided buffers, one
// io_uring_enter per loop iteration). Both serve echo and HTTP plaintext by
// the rules every implementation follows (c/common.h). They are compiled at
// run time with gcc, so the module builds and its Go servers run on a
// machine without a C compiler; there the C rows say why they are empty.
package cserver

import (
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed c/*.c c/*.h
var sources embed.FS

// NoURingEnv, set to anything but "", makes BuildURing refuse, as it makes
// the library take its paths without io_uring.
const NoURingEnv = "EVENTPOLL_NO_URING"

// Build compiles the epoll server into dir and returns the binary's path,
// or a note saying why it could not ("gcc not installed", the compiler's
// complaint) for the report to print in place of the C figures.
func Build(dir string) (bin, note string) {
	return build(dir, "epoll_server")
}

// BuildURing compiles the io_uring server into dir and runs its probe (a
// ring set up as the server's loops set theirs up, a multishot accept and a
// multishot recv into a provided buffer over loopback), returning the
// binary's path, or a note saying why it cannot run: gcc or the kernel's
// headers missing, a kernel older than the features it needs (Linux 6.1),
// io_uring disabled (the kernel.io_uring_disabled sysctl, a seccomp filter)
// or NoURingEnv set.
func BuildURing(dir string) (bin, note string) {
	if os.Getenv(NoURingEnv) != "" {
		return "", NoURingEnv + " is set"
	}
	bin, note = build(dir, "uring_server")
	if bin == "" {
		return "", note
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-probe").CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("io_uring probe failed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, ""
}

// build writes the sources into dir and compiles name.c there.
func build(dir, name string) (bin, note string) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", "gcc not installed"
	}
	files, _ := sources.ReadDir("c")
	for _, f := range files {
		b, _ := sources.ReadFile("c/" + f.Name())
		if err := os.WriteFile(filepath.Join(dir, f.Name()), b, 0o600); err != nil {
			return "", "write C source: " + err.Error()
		}
	}
	bin = filepath.Join(dir, name)
	out, err := exec.Command(gcc, "-O2", "-Wall", "-o", bin, filepath.Join(dir, name+".c"), "-lpthread").CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("gcc failed: %v: %s", err, errorLine(string(out)))
	}
	return bin, ""
}

// errorLine picks the compiler's first error out of its output (the
// "#error" of a missing header says what to install), else all of it.
func errorLine(out string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, "error") {
			return strings.TrimSpace(line)
		}
	}
	return strings.TrimSpace(out)
}
