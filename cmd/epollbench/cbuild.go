package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// buildC compiles one C reference program with gcc into a temporary
// directory, which cleanup removes. It returns a note instead when it cannot
// ("gcc not installed", the compiler's complaint), for the report to print in
// place of the C figure.
func buildC(name, source string, flags ...string) (bin string, cleanup func(), note string) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", nil, "gcc not installed"
	}
	dir, err := os.MkdirTemp("", "epollbench-"+name+"-")
	if err != nil {
		return "", nil, "temporary directory: " + err.Error()
	}
	cleanup = func() { os.RemoveAll(dir) }
	src, bin := filepath.Join(dir, name+".c"), filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(source), 0o600); err != nil {
		cleanup()
		return "", nil, "write C source: " + err.Error()
	}
	args := append([]string{"-O2", "-o", bin, src}, flags...)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Sprintf("gcc failed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, cleanup, ""
}
