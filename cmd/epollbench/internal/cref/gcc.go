package cref

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles one C program with gcc -O2 into a temporary directory,
// which cleanup removes. The error is a NoReference when the program cannot
// be built here: gcc absent, or gcc refusing it (with its complaint).
func Build(name, source string, flags ...string) (bin string, cleanup func(), err error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", nil, &NoReference{GccMissing}
	}
	dir, err := os.MkdirTemp("", "epollbench-"+name+"-")
	if err != nil {
		return "", nil, &NoReference{"temporary directory: " + err.Error()}
	}
	cleanup = func() { os.RemoveAll(dir) }
	src, bin := filepath.Join(dir, name+".c"), filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(source), 0o600); err != nil {
		cleanup()
		return "", nil, &NoReference{"write C source: " + err.Error()}
	}
	args := append([]string{"-O2", "-o", bin, src}, flags...)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, &NoReference{fmt.Sprintf("gcc failed: %v: %s", err, strings.TrimSpace(string(out)))}
	}
	return bin, cleanup, nil
}
