// Package cserver builds the C reference server (c/epoll_server.c): the echo
// and HTTP plaintext servers on raw epoll, edge-triggered, one thread and one
// SO_REUSEPORT listener per loop. It is compiled at run time with gcc, so
// the module builds and its Go servers run on a machine without a C
// compiler; there the C rows say why they are empty.
package cserver

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed c/epoll_server.c
var source string

// Source returns the C program's text.
func Source() string { return source }

// Build compiles the server into dir and returns the binary's path, or a
// note saying why it could not ("gcc not installed", the compiler's
// complaint) for the report to print in place of the C figures.
func Build(dir string) (bin, note string) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", "gcc not installed"
	}
	src, bin := filepath.Join(dir, "epoll_server.c"), filepath.Join(dir, "epoll_server")
	if err := os.WriteFile(src, []byte(source), 0o600); err != nil {
		return "", "write C source: " + err.Error()
	}
	out, err := exec.Command(gcc, "-O2", "-Wall", "-o", bin, src, "-lpthread").CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("gcc failed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, ""
}
