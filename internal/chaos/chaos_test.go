package chaos

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// refServer is a framed echo written the plain way (a goroutine per
// connection), to check the client itself. mangle, when set, may change a
// frame before it is echoed (to prove a broken server is caught).
type refServer struct {
	ln     net.Listener
	max    int
	mangle func(f []byte) []byte
	echoes atomic.Bool // echo panic frames too, as a server not built for them would
	wg     sync.WaitGroup
}

func startRef(t *testing.T, max int, mangle func([]byte) []byte) *refServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &refServer{ln: ln, max: max, mangle: mangle}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *refServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			var buf []byte
			tmp := make([]byte, 64<<10)
			for {
				// Five seconds without progress end a connection: a
				// deep pipeline takes longer than that in all on a
				// loaded machine under the race detector.
				c.SetDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Read(tmp)
				buf = append(buf, tmp[:n]...)
				for {
					l, ferr := FrameLen(buf, s.max)
					if ferr != nil {
						return
					}
					if l < 0 || len(buf) < l {
						break
					}
					f := buf[:l]
					if _, seq := FrameHeader(f); seq == PanicSeq && !s.echoes.Load() {
						return // what a server does when its handler panics
					}
					if s.mangle != nil {
						f = s.mangle(append([]byte(nil), f...))
					}
					if _, err := c.Write(f); err != nil {
						return
					}
					buf = buf[l:]
				}
				if err == io.EOF {
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func quickConfig(addr string, seed uint64) Config {
	return Config{
		Addr: addr, Seed: seed, Conns: 300, Concurrency: 32, MaxFrame: 64 << 10, MaxPayload: 2048,
		SlowInterval: 5 * time.Millisecond, BurstSize: 10, OpTimeout: 5 * time.Second,
	}
}

func TestAWellBehavedServerPasses(t *testing.T) {
	s := startRef(t, 64<<10, nil)
	cfg := quickConfig(s.ln.Addr().String(), 1)
	cfg.Weights = map[Behaviour]int{Normal: 3, OneByteReads: 1, HalfClose: 1, DeepPipeline: 1, Burst: 1,
		ResetMidRequest: 1, ResetMidResponse: 1, ConnectClose: 1, Oversized: 1, Malformed: 1,
		SlowReader: 1, Panic: 1, Slowloris: 1}
	cfg.PipelineBytes = 512 << 10
	res := Run(context.Background(), cfg)
	t.Log(res)
	if res.Failed() {
		t.Fatalf("a correct server failed: %v", res.Failures)
	}
	if res.FramesBack == 0 || res.Refused == 0 {
		t.Fatalf("the run exercised nothing: %v", res)
	}
	for _, b := range []Behaviour{SlowReader, Panic, Slowloris, DeepPipeline} {
		if res.ByBehaviour[b] == 0 {
			t.Fatalf("no %v client in the run: %v", b, res)
		}
	}
	if res.Panicked != res.ByBehaviour[Panic] || res.PanicEchoed != 0 {
		t.Fatalf("%d panic clients, %d saw their connection closed, %d their panic frame echoed; want all closed",
			res.ByBehaviour[Panic], res.Panicked, res.PanicEchoed)
	}
	if res.SlowAlive != res.ByBehaviour[Slowloris] {
		t.Fatalf("%d slowloris clients, %d lasted; the reference server closes none", res.ByBehaviour[Slowloris], res.SlowAlive)
	}
	if res.FramesBack != res.FramesSent {
		t.Fatalf("%d frames sent, %d back", res.FramesSent, res.FramesBack)
	}
}

func TestMisdeliveryIsCaught(t *testing.T) {
	var mu sync.Mutex
	var last []byte
	// Echo the previous frame of whichever connection instead of this one.
	s := startRef(t, 64<<10, func(f []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		prev := last
		last = f
		if prev != nil && len(prev) == len(f) {
			return prev
		}
		return f
	})
	cfg := quickConfig(s.ln.Addr().String(), 2)
	cfg.Weights = map[Behaviour]int{Normal: 1}
	cfg.MaxPayload = 8 // equal lengths are common
	res := Run(context.Background(), cfg)
	if res.Misdelivered == 0 {
		t.Fatalf("frames echoed to the wrong connection went unnoticed: %v", res)
	}
}

func TestCorruptionAndLossAreCaught(t *testing.T) {
	n := 0
	var mu sync.Mutex
	s := startRef(t, 64<<10, func(f []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		n++
		switch {
		case n%50 == 7 && len(f) > HeaderLen:
			f[len(f)-1] ^= 1
		case n%50 == 13:
			return f[:0] // dropped
		}
		return f
	})
	cfg := quickConfig(s.ln.Addr().String(), 3)
	cfg.Weights = map[Behaviour]int{Normal: 1}
	cfg.OpTimeout = 300 * time.Millisecond
	res := Run(context.Background(), cfg)
	if res.Misdelivered == 0 || res.Lost == 0 {
		t.Fatalf("corruption (%d) or loss (%d) went unnoticed: %v", res.Misdelivered, res.Lost, res)
	}
}

// A server that stops reading while it writes (the refServer writes with
// a blocking write on the reading goroutine) must still serve a pipeline
// deeper than the socket buffers when the client writes and reads at once.
func TestDeepPipelineExceedsTheBuffersWithoutDeadlock(t *testing.T) {
	s := startRef(t, 64<<10, nil)
	cfg := quickConfig(s.ln.Addr().String(), 5)
	cfg.Weights = map[Behaviour]int{DeepPipeline: 1, SlowReader: 1}
	cfg.Conns, cfg.Concurrency = 4, 4
	cfg.PipelineBytes = 16 << 20 // beyond loopback's socket buffers, both ways
	start := time.Now()
	res := Run(context.Background(), cfg)
	t.Logf("%v in %v", res, time.Since(start))
	if res.Failed() || res.FramesBack != res.FramesSent || res.BytesBack < int64(cfg.PipelineBytes) {
		t.Fatalf("deep pipeline: %v %v", res, res.Failures)
	}
}

// A server that echoes a frame on which it should have panicked is seen.
func TestAnEchoedPanicFrameIsCounted(t *testing.T) {
	s := startRef(t, 64<<10, nil)
	s.echoes.Store(true)
	cfg := quickConfig(s.ln.Addr().String(), 6)
	cfg.Weights = map[Behaviour]int{Panic: 1}
	cfg.Conns = 20
	res := Run(context.Background(), cfg)
	if res.PanicEchoed != 20 || res.Panicked != 0 {
		t.Fatalf("20 panic frames echoed: counted %d echoed, %d closed: %v", res.PanicEchoed, res.Panicked, res)
	}
}

func TestAServerThatAnswersMalformedFramesIsCaught(t *testing.T) {
	s := startRef(t, 0, nil) // no limit: oversized frames are not refused
	cfg := quickConfig(s.ln.Addr().String(), 4)
	cfg.Weights = map[Behaviour]int{Oversized: 1}
	cfg.Conns = 5
	cfg.OpTimeout = 200 * time.Millisecond
	res := Run(context.Background(), cfg)
	if res.Unrefused == 0 {
		t.Fatalf("an oversized header left unrefused went unnoticed: %v", res)
	}
}

func TestFrameLenRefusesBadHeaders(t *testing.T) {
	f := AppendFrame(nil, 1, 2, 10)
	if n, err := FrameLen(f, 0); err != nil || n != len(f) {
		t.Fatalf("FrameLen = %d, %v", n, err)
	}
	if n, _ := FrameLen(f[:3], 0); n != -1 {
		t.Fatalf("short header: %d", n)
	}
	if _, err := FrameLen([]byte{0, 0, 0, 3}, 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("length 3: %v", err)
	}
	if _, err := FrameLen(f, 20); !errors.Is(err, ErrOversized) {
		t.Fatalf("over the limit: %v", err)
	}
	if err := checkFrame(f, 1, 2); err != nil {
		t.Fatal(err)
	}
}

func FuzzFrameRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2), 10)
	f.Fuzz(func(t *testing.T, id, seq uint64, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		fr := AppendFrame(nil, id, seq, n)
		l, err := FrameLen(fr, 0)
		if err != nil || l != len(fr) {
			t.Fatalf("FrameLen = %d, %v; want %d", l, err, len(fr))
		}
		if err := checkFrame(fr, id, seq); err != nil {
			t.Fatal(err)
		}
		if err := checkFrame(fr, id+1, seq); err == nil {
			t.Fatal("another id accepted")
		}
	})
}

// A server out of descriptors refuses connections unanswered: with
// MayRefuse those clients are counted apart, and without it as lost.
func TestMayRefuseCountsConnectionsClosedBeforeAnyEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := startRef(t, 64<<10, nil)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() { // every third connection closed at once, the others proxied to the echo
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n%3 == 0 {
				c.Close()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", ref.ln.Addr().String())
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, up)
			}()
		}
	}()
	cfg := quickConfig(ln.Addr().String(), 5)
	cfg.Weights = map[Behaviour]int{Normal: 1}
	cfg.Conns = 60
	cfg.MayRefuse = true
	res := Run(context.Background(), cfg)
	if res.Failed() || res.Unserved == 0 || res.FramesBack == 0 {
		t.Fatalf("with MayRefuse: lost %d, unserved %d, echoed %d: %v", res.Lost, res.Unserved, res.FramesBack, res.Failures)
	}
	cfg.MayRefuse = false
	if res := Run(context.Background(), cfg); res.Lost == 0 || res.Unserved != 0 {
		t.Fatalf("without MayRefuse: lost %d, unserved %d", res.Lost, res.Unserved)
	}
}

// OpTimeout bounds each operation of a behaved client, not its
// connection: a server that answers every frame well within it, but a
// connection's frames in all only after several times it, loses nothing.
// (With one deadline per connection, set at dial, such clients timed out
// and counted their frames lost: slow one-byte readers on a loaded
// machine did.)
func TestOpTimeoutBoundsEachOperationNotTheConnection(t *testing.T) {
	s := startRef(t, 64<<10, func(f []byte) []byte {
		time.Sleep(40 * time.Millisecond)
		return f
	})
	cfg := quickConfig(s.ln.Addr().String(), 7)
	cfg.Weights = map[Behaviour]int{Normal: 1, OneByteReads: 1}
	cfg.Conns, cfg.Concurrency = 8, 8
	cfg.OpTimeout = time.Second
	start := time.Now()
	res := Run(context.Background(), cfg)
	took := time.Since(start)
	t.Logf("%v in %v", res, took)
	if res.Failed() || res.FramesBack != res.FramesSent {
		t.Fatalf("frames answered within OpTimeout each were counted lost: %v %v", res, res.Failures)
	}
	if took < 2*cfg.OpTimeout {
		t.Fatalf("the run took %v: no connection outlasted OpTimeout (%v) twice, so the test shows nothing", took, cfg.OpTimeout)
	}
}
