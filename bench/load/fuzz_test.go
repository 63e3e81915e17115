package load

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// FuzzPacedReply feeds the open-loop generator's framing and checks of a
// reply arbitrary bytes: it never panics, and what it accepts is a whole
// reply that is right (an HTTP response with the plaintext body, an echo
// message equal to the one expected), never more bytes than it was given.
func FuzzPacedReply(f *testing.F) {
	good := plaintext.AppendResponse(nil, 200)
	f.Add("http", good)
	f.Add("http", append(append([]byte(nil), good...), good...))
	f.Add("http", good[:len(good)-3])
	f.Add("http", bytes.Replace(good, []byte("200 OK"), []byte("201 OK"), 1))
	f.Add("http", []byte("HTTP/1.1 200 OK\r\n\r\nHello, World!"))
	msg := make([]byte, 64)
	fillPattern(msg, 3)
	stamp(msg, 3, 0)
	f.Add("echo", msg)
	f.Add("echo", msg[:20])
	f.Fuzz(func(t *testing.T, app string, b []byte) {
		if app != "echo" {
			app = "http"
		}
		pr := &pacer{p: Paced{App: app, Size: 64}, br: bufio.NewReaderSize(nil, 4096)}
		c := &pacedConn{id: 3, sent: 1}
		if app == "echo" {
			c.pattern, c.want = make([]byte, 64), make([]byte, 64)
			fillPattern(c.pattern, 3)
			fillPattern(c.want, 3)
		}
		size, err := pr.reply(c, b)
		switch {
		case err != nil && size != 0:
			t.Fatalf("size %d with error %v", size, err)
		case size < 0 || size > len(b):
			t.Fatalf("size %d of %d bytes", size, len(b))
		case size == 0:
			return
		case app == "echo" && !bytes.Equal(b[:size], msg):
			t.Fatalf("echo accepted %q, want message 0 of connection 3", b[:size])
		case app == "http" && (!bytes.HasPrefix(b, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(b[:size], []byte(plaintext.Body))):
			t.Fatalf("http accepted %q", b[:size])
		}
	})
}

// FuzzParseWrk feeds wrk's report parser arbitrary text: it never panics,
// and a report it accepts has a count, a window, and percentiles either
// both absent or in order.
func FuzzParseWrk(f *testing.F) {
	f.Add(wrkReport)
	f.Add(strings.Replace(wrkReport, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1))
	f.Add("  95432 requests in 1.00s, 11.56MB read\n")
	f.Add("wrk: unable to connect")
	f.Fuzz(func(t *testing.T, out string) {
		res, err := parseWrk(out)
		if err != nil {
			return
		}
		if res.Ops <= 0 || res.Window <= 0 || (res.P50 == 0) != (res.P99 == 0) || res.P99 < res.P50 {
			t.Fatalf("accepted %+v from %q", res, out)
		}
	})
}
