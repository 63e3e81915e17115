package cref

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Program is a C program of ours, built for the run by gcc.
type Program struct {
	name    string
	bin     string
	cleanup func()
}

func build(name, source string, flags ...string) (*Program, error) {
	bin, cleanup, err := Build(name, source, flags...)
	if err != nil {
		return nil, err
	}
	return &Program{name: name, bin: bin, cleanup: cleanup}, nil
}

// Close removes the program.
func (p *Program) Close() { p.cleanup() }

// run runs the program with args and returns its standard output; a
// failure carries what it said on standard error.
func (p *Program) run(args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(p.bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s in C %s: %v: %s", p.name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
