package fdlife

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestZeroFDGrantsNothingAndClosesNothing(t *testing.T) {
	var f FD
	if f.Acquire() {
		t.Fatal("Acquire on a zero FD succeeded")
	}
	if f.Fd() != -1 {
		t.Fatalf("Fd of a zero FD = %d, want -1", f.Fd())
	}
	if f.Close(nil) {
		t.Fatal("Close of a zero FD reported it owns a descriptor to close")
	}
	if !f.Closing() || f.Opened() {
		t.Fatal("zero FD reports open")
	}
	if f.Busy() != 0 {
		t.Fatalf("zero FD Busy = %d after a refused Acquire", f.Busy())
	}
}

func TestCloseIsGrantedOnceAndRefusesLaterAcquires(t *testing.T) {
	var f FD
	f.Init(7)
	if !f.Acquire() {
		t.Fatal("Acquire on an open FD failed")
	}
	f.Release()
	if !f.Close(nil) {
		t.Fatal("first Close did not own the descriptor")
	}
	if f.Close(nil) {
		t.Fatal("second Close also owned the descriptor")
	}
	if f.Acquire() {
		t.Fatal("Acquire after Close succeeded")
	}
	if f.Fd() != -1 {
		t.Fatalf("Fd after Close = %d, want -1", f.Fd())
	}
	if f.Sysfd() != 7 {
		t.Fatalf("Sysfd after Close = %d, want 7 (the owner closes it)", f.Sysfd())
	}
}

// TestCloseWaitsForEveryCallInside runs N goroutines that hold references
// across a blocking read of a pipe; Close must wake them (through its wake
// function) and return only after every one has released, and no call may
// use the descriptor after Close returned.
func TestCloseWaitsForEveryCallInside(t *testing.T) {
	fdtest.Check(t)
	r, w := fdtest.Pipe(t)
	// Blocking reads: the goroutines really sit in the kernel.
	unix.SetNonblock(r, false)
	var f FD
	f.Init(r)
	const n = 8
	var inside, after atomic.Int32
	var closed atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !f.Acquire() {
				return
			}
			inside.Add(1)
			var b [1]byte
			unix.Read(f.Sysfd(), b[:])
			if closed.Load() {
				after.Add(1)
			}
			f.Release()
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); inside.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d goroutines got inside", inside.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // let them block in read(2)
	woken := 0
	owner := f.Close(func() {
		woken++
		unix.Write(w, make([]byte, n)) // one byte wakes each reader
	})
	closed.Store(true)
	if !owner {
		t.Fatal("Close did not own the descriptor")
	}
	if woken != 1 {
		t.Fatalf("wake called %d times, want 1", woken)
	}
	if f.Busy() != 0 {
		t.Fatalf("Close returned with %d references held", f.Busy())
	}
	if after.Load() != 0 {
		t.Fatalf("%d calls were still inside after Close returned", after.Load())
	}
	wg.Wait()
}

// TestAcquireRacingCloseNeverUsesAClosedDescriptor hammers Acquire/Release
// from many goroutines while Close runs: every granted reference must end
// before Close returns.
func TestAcquireRacingCloseNeverUsesAClosedDescriptor(t *testing.T) {
	for round := 0; round < 200; round++ {
		var f FD
		f.Init(100)
		var done atomic.Bool
		var bad atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 1000; i++ {
					if f.Acquire() {
						if done.Load() {
							bad.Add(1)
						}
						f.Release()
					}
				}
			}()
		}
		f.Close(nil)
		done.Store(true)
		wg.Wait()
		if bad.Load() != 0 {
			t.Fatalf("round %d: %d references held after Close returned", round, bad.Load())
		}
		if f.Busy() != 0 {
			t.Fatalf("round %d: Busy = %d at the end", round, f.Busy())
		}
	}
}

func TestConcurrentClosesOwnExactlyOnce(t *testing.T) {
	var f FD
	f.Init(3)
	var owners atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.Close(nil) {
				owners.Add(1)
			}
		}()
	}
	wg.Wait()
	if owners.Load() != 1 {
		t.Fatalf("%d Closes owned the descriptor, want 1", owners.Load())
	}
}

func TestAcquireReleaseAllocatesNothing(t *testing.T) {
	var f FD
	f.Init(3)
	if a := testing.AllocsPerRun(1000, func() {
		if f.Acquire() {
			f.Release()
		}
	}); a != 0 {
		t.Fatalf("Acquire+Release allocates %v times", a)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	var f FD
	f.Init(3)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if f.Acquire() {
				f.Release()
			}
		}
	})
}
