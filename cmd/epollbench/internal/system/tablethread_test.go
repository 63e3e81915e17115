package system

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestTableThreadEndsItsThreadAndTable(t *testing.T) {
	fdtest.Check(t)
	tt, err := NewTableThread()
	if err != nil {
		t.Skip("no table of its own:", err)
	}
	var tid int
	var p [2]int
	if err := tt.Do(func() error { tid = unix.Gettid(); return unix.Pipe2(p[:], unix.O_CLOEXEC) }); err != nil {
		t.Fatal(err)
	}
	if tid == unix.Getpid() {
		t.Fatalf("the table thread is the main thread")
	}
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	// The pipe is in the thread's table, and not in the process's.
	if _, err := os.Readlink(fmt.Sprintf("%s/fd/%d", task, p[0])); err != nil {
		t.Fatalf("pipe not in the thread's table: %v", err)
	}
	if target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", p[0])); err == nil && strings.HasPrefix(target, "pipe:") {
		if mine, _ := os.Readlink(fmt.Sprintf("%s/fd/%d", task, p[0])); mine == target {
			t.Fatalf("descriptor %d is the same pipe in the process's table", p[0])
		}
	}
	tt.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still exists 5 s after close", tid)
		}
		time.Sleep(time.Millisecond)
	}
}
