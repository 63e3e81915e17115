package uring

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestForceUnsupportedTurnsSupportedOffUntilRestored(t *testing.T) {
	t.Setenv(EnvNoUring, "")
	base := Supported()
	restore := ForceUnsupported()
	err := Supported()
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Supported while forced = %v, want ErrUnsupported", err)
	}
	if !strings.Contains(err.Error(), "ForceUnsupported") {
		t.Errorf("error %q does not say why", err)
	}
	if OpSupported(OpNop) {
		t.Error("OpSupported(OpNop) true while forced")
	}
	inner := ForceUnsupported()
	inner()
	inner() // a second restore must not undo the outer force
	if Supported() == nil {
		t.Fatal("nested restore lifted the outer force")
	}
	restore()
	if got := Supported(); (got == nil) != (base == nil) {
		t.Fatalf("after restore Supported = %v, before force it was %v", got, base)
	}
}

func TestEnvVarTurnsSupportedOff(t *testing.T) {
	t.Setenv(EnvNoUring, "1")
	if err := Supported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), EnvNoUring) {
		t.Fatalf("Supported with %s=1 = %v, want ErrUnsupported naming the variable", EnvNoUring, err)
	}
	t.Setenv(EnvNoUring, "0")
	if err := Supported(); errors.Is(err, errEnv) {
		t.Fatalf("%s=0 still forces io_uring off", EnvNoUring)
	}
}

func TestSupportedOnThisKernel(t *testing.T) {
	t.Setenv(EnvNoUring, "")
	err := Supported()
	if err != nil {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Supported = %v: a failure must wrap ErrUnsupported", err)
		}
		t.Skipf("io_uring unusable here: %v", err)
	}
	if !OpSupported(OpEpollCtl) || !OpSupported(OpPollAdd) {
		t.Error("kernel with io_uring lacks EPOLL_CTL or POLL_ADD per probe")
	}
}

func TestUnsupportedReasonNamesTheCause(t *testing.T) {
	sysctl := func(disabled, group string) func(string) (string, error) {
		return func(name string) (string, error) {
			switch {
			case disabled == "missing":
				return "", unix.ENOENT
			case name == "io_uring_disabled":
				return disabled, nil
			default:
				return group, nil
			}
		}
	}
	cases := []struct {
		errno    unix.Errno
		disabled string
		group    string
		want     string
	}{
		{unix.ENOSYS, "0", "", "no io_uring"},
		{unix.EPERM, "2", "", "io_uring_disabled=2"},
		{unix.EPERM, "1", "-1", "limits io_uring to CAP_SYS_ADMIN"},
		{unix.EPERM, "1", "1234", "group 1234"},
		{unix.EPERM, "0", "", "seccomp"},
		{unix.EPERM, "missing", "", "seccomp"},
		{unix.ENOMEM, "0", "", ""},
	}
	for _, c := range cases {
		got := unsupportedReason(c.errno, sysctl(c.disabled, c.group))
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("reason(%v, disabled=%s, group=%s) = %q, want it to mention %q",
				c.errno, c.disabled, c.group, got, c.want)
		}
	}
	err := setupError(unix.ENOSYS)
	if !errors.Is(err, unix.ENOSYS) || !errors.Is(err, ErrUnsupported) ||
		!strings.HasPrefix(err.Error(), "uring: io_uring_setup: function not implemented") {
		t.Errorf("setupError(ENOSYS) = %q", err)
	}
	err = setupError(unix.ENOMEM)
	if !errors.Is(err, unix.ENOMEM) || errors.Is(err, ErrUnsupported) ||
		err.Error() != "uring: io_uring_setup: cannot allocate memory" {
		t.Errorf("setupError(ENOMEM) = %q; want a plain, retryable error", err)
	}
}
