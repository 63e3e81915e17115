// Package cref runs the C references epollbench sets our figures beside:
// `perf bench epoll wait` and `perf bench epoll ctl`, and C programs of its
// own (pipetest's ring, epoll_pwait2's precision) built with gcc in the
// run. It reads what they print, and spells flags and runtimes as perf
// does.
//
// A machine without perf or gcc still runs every experiment: the C side is
// then a NoReference error, whose text says why and goes into the report
// in place of the C figure.
package cref

import "errors"

// ErrNoReference matches every NoReference: errors.Is(err, ErrNoReference)
// tells a missing C figure from a C program that failed.
var ErrNoReference = errors.New("no C reference")

// NoReference is the error of a C reference that cannot run on this
// machine. Its text is the reason, as the report prints it: "perf not
// installed", "gcc not installed", the compiler's complaint.
type NoReference struct{ Why string }

func (e *NoReference) Error() string { return e.Why }

// Is makes every NoReference match ErrNoReference.
func (e *NoReference) Is(target error) bool { return target == ErrNoReference }

// The reasons a tool is absent, as the report prints them.
const (
	PerfMissing = "perf not installed"
	GccMissing  = "gcc not installed"
)
