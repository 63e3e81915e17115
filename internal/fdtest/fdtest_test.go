package fdtest

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestLeakedFindsAnOpenDescriptorAndNothingAfterClose(t *testing.T) {
	before := Open(t)
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if leaked := Leaked(t, before); len(leaked) != 1 {
		t.Fatalf("with one eventfd open, Leaked = %v; want it alone", leaked)
	}
	unix.Close(fd)
	if leaked := Leaked(t, before); len(leaked) != 0 {
		t.Fatalf("after close, Leaked = %v", leaked)
	}
}
