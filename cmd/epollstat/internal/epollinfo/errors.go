package epollinfo

import (
	"errors"
	"strconv"

	"github.com/eventpoll/eventpoll/internal/errs"
)

const pkg = "epollinfo"

// SyntaxError is the cause of every parse error: the line of the input
// (counted from 1) that does not have the kernel's format, and why.
type SyntaxError struct {
	Line int    // the line's number in the input, from 1
	Text string // the line, cut to 80 bytes
	Why  string // what is wrong with it
}

// Error returns "line N: WHY: TEXT".
func (e *SyntaxError) Error() string {
	return "line " + strconv.Itoa(e.Line) + ": " + e.Why + ": " + strconv.Quote(e.Text)
}

// maxText bounds the copy of a bad line an error keeps: a kernel line is
// far shorter, and garbage can be a megabyte without a newline.
const maxText = 80

func syntaxError(call string, line int, text string, why error) error {
	if len(text) > maxText {
		text = text[:maxText]
	}
	return &errs.Error{Pkg: pkg, Call: call, Fd: -1, Err: &SyntaxError{Line: line, Text: text, Why: why.Error()}}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// parseInt parses a signed number of the given base and bit size, with an
// error that names the field.
func parseInt(s string, base, bits int, name string) (int64, error) {
	v, err := strconv.ParseInt(s, base, bits)
	if err != nil {
		return 0, numberError(s, base, name, err)
	}
	return v, nil
}

// parseUint parses an unsigned number of the given base and bit size, with
// an error that names the field.
func parseUint(s string, base, bits int, name string) (uint64, error) {
	v, err := strconv.ParseUint(s, base, bits)
	if err != nil {
		return 0, numberError(s, base, name, err)
	}
	return v, nil
}

func numberError(s string, base int, name string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return errorString(name + " " + strconv.Quote(s) + " is out of range")
	}
	kind := map[int]string{8: "an octal", 10: "a decimal", 16: "a hexadecimal"}[base]
	return errorString(name + " " + strconv.Quote(s) + " is not " + kind + " number")
}
