package loop

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// pipeFile is one generation of a slot: a pipe whose every 8-byte message
// is its id.
type pipeFile struct {
	id   uint64
	r, w int
	rdup int // a dup of r held by the writer: the open file outlives close(r)
}

// reader is the handler of one pipeFile's registration.
type reader struct {
	f     *pipeFile
	dead  atomic.Bool
	storm *storm
}

type storm struct {
	slots   []atomic.Pointer[pipeFile]
	tokens  []Token
	readers []*reader
	nextID  uint64
	rng     *rand.Rand
	target  int

	reuses     int // the new pipe's read end got the number just closed
	replaced   int
	misdeliver atomic.Int64
	reads      atomic.Int64
	err        error
	done       chan struct{}
	stopped    bool
	retired    chan *pipeFile // replaced files, whose write end and dup the writer closes
}

func (rd *reader) OnEvent(l *Loop, t Token, ev epoll.Events) {
	if rd.dead.Load() {
		rd.storm.misdeliver.Add(1) // an event for an unregistered registration
		return
	}
	var buf [4096]byte
	for {
		n, err := unix.Read(rd.f.r, buf[:])
		if n <= 0 || err != nil {
			break
		}
		for off := 0; off+8 <= n; off += 8 {
			if binary.LittleEndian.Uint64(buf[off:]) != rd.f.id {
				rd.storm.misdeliver.Add(1) // another file's bytes under this registration
			}
		}
		rd.storm.reads.Add(1)
	}
	rd.storm.churn(l)
}

// churn replaces a few random slots (not necessarily the one reporting):
// Unregister, close the read end, open a new pipe (which gets the lowest
// free numbers, usually the one just closed) and register it, while the
// writer keeps writing into the old pipe through its write end and keeps
// the old file open through a dup of its read end.
func (s *storm) churn(l *Loop) {
	if s.stopped {
		return
	}
	for k := 0; k < 4; k++ {
		i := s.rng.IntN(len(s.slots))
		old := s.slots[i].Load()
		if err := l.Unregister(s.tokens[i]); err != nil {
			s.fail(err)
			return
		}
		s.readers[i].dead.Store(true)
		unix.Close(old.r)
		f, err := s.newFile()
		if err != nil {
			s.fail(err)
			return
		}
		if f.r == old.r {
			s.reuses++
		}
		s.replaced++
		rd := &reader{f: f, storm: s}
		tok, err := l.Register(f.r, epoll.In, rd)
		if err != nil {
			s.fail(err)
			return
		}
		s.tokens[i], s.readers[i] = tok, rd
		s.slots[i].Store(f)
		s.retired <- old
		if s.reuses >= s.target {
			s.stopped = true
			close(s.done)
			return
		}
	}
}

func (s *storm) fail(err error) {
	if s.err == nil {
		s.err = err
		s.stopped = true
		close(s.done)
	}
}

func (s *storm) newFile() (*pipeFile, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	d, err := unix.FcntlInt(uintptr(p[0]), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, err
	}
	s.nextID++
	return &pipeFile{id: s.nextID, r: p[0], w: p[1], rdup: d}, nil
}

// writer writes each slot's id into its current pipe. It alone closes a
// pipe's write end and dup, once the loop has retired the pipe, writing
// into it once more first: the loop must never deliver that.
func (s *storm) writer(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	cur := make([]*pipeFile, len(s.slots))
	var msg [8]byte
	retire := func(f *pipeFile) {
		for i := range cur {
			if cur[i] == f {
				cur[i] = s.slots[i].Load()
			}
		}
		binary.LittleEndian.PutUint64(msg[:], f.id)
		unix.Write(f.w, msg[:])
		unix.Close(f.w)
		unix.Close(f.rdup)
	}
	for {
		for drained := false; !drained; {
			select {
			case f := <-s.retired:
				retire(f)
			default:
				drained = true
			}
		}
		select {
		case <-stop:
			for i := range s.slots {
				f := s.slots[i].Load()
				unix.Close(f.w)
				unix.Close(f.rdup)
			}
			return
		default:
		}
		for i := range s.slots {
			cur[i] = s.slots[i].Load()
			binary.LittleEndian.PutUint64(msg[:], cur[i].id)
			unix.Write(cur[i].w, msg[:])
		}
	}
}

// TestReusedFdNeverGetsOldRegistrationsEvents closes and re-opens the same
// descriptor number a million times (100,000 under -race, 20,000 with
// -short) while a writer
// goroutine keeps writing into the replaced pipes and keeps their files
// open: not one event of an unregistered registration, and not one byte of
// another file, may reach a handler. Stale events met on the way are
// counted (Stats.Stale).
func TestReusedFdNeverGetsOldRegistrationsEvents(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		target := reuseTarget
		if testing.Short() {
			target = 20_000
		}
		l := newLoop(t, e)
		const nslots = 32
		s := &storm{
			slots:   make([]atomic.Pointer[pipeFile], nslots),
			tokens:  make([]Token, nslots),
			readers: make([]*reader, nslots),
			rng:     rand.New(rand.NewPCG(5, 6)),
			target:  target,
			done:    make(chan struct{}),
			retired: make(chan *pipeFile, 4096),
		}
		for i := range s.slots {
			f, err := s.newFile()
			if err != nil {
				t.Fatal(err)
			}
			rd := &reader{f: f, storm: s}
			if s.tokens[i], err = l.Register(f.r, epoll.In, rd); err != nil {
				t.Fatal(err)
			}
			s.readers[i] = rd
			s.slots[i].Store(f)
		}
		stopWriter := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go s.writer(stopWriter, &wg)
		stop := start(t, l)
		begin := time.Now()
		select {
		case <-s.done:
		case <-time.After(5 * time.Minute):
			t.Errorf("storm did not finish in 5 minutes: %d reuses", s.reuses)
		}
		stop()
		close(stopWriter)
		wg.Wait()
		for len(s.retired) > 0 { // retired after the writer's last look
			f := <-s.retired
			unix.Close(f.w)
			unix.Close(f.rdup)
		}
		for i := range s.slots {
			unix.Close(s.slots[i].Load().r)
		}
		if s.err != nil {
			t.Fatalf("storm: %v", s.err)
		}
		st := l.Stats()
		t.Logf("%s: %d descriptors replaced, %d reopened on the number just closed, in %v; %d reads, %d stale events dropped, %d misdelivered",
			l.Engine(), s.replaced, s.reuses, time.Since(begin).Round(time.Millisecond), s.reads.Load(), st.Stale, s.misdeliver.Load())
		if m := s.misdeliver.Load(); m != 0 {
			t.Fatalf("%d events or messages misdelivered", m)
		}
		if st.Stale == 0 {
			t.Fatalf("no stale event met: the storm did not exercise the token check")
		}
	})
}
