package plaintext_test

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

const (
	get     = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
	missing = "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
)

// statuses parses out as HTTP responses and returns their status codes.
func statuses(t *testing.T, out []byte) []int {
	t.Helper()
	var codes []int
	br := bufio.NewReader(bytes.NewReader(out))
	for br.Buffered() > 0 || len(codes) == 0 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if len(out) == 0 {
				return nil
			}
			t.Fatalf("response %d does not parse: %v", len(codes)+1, err)
		}
		body := new(bytes.Buffer)
		body.ReadFrom(resp.Body)
		want := plaintext.Body
		if resp.StatusCode == 404 {
			want = plaintext.NotFoundBody
		}
		if body.String() != want {
			t.Fatalf("response %d body %q", len(codes)+1, body)
		}
		codes = append(codes, resp.StatusCode)
		if _, err := br.Peek(1); err != nil {
			break
		}
	}
	return codes
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	out, n, err := plaintext.AppendResponses(nil, []byte(get+missing+get+missing+missing))
	if err != nil || n != 2*len(get)+3*len(missing) {
		t.Fatalf("consumed %d, err %v", n, err)
	}
	got := statuses(t, out)
	want := []int{200, 404, 200, 404, 404}
	if len(got) != len(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
}

func TestAnIncompleteRequestIsLeftForLater(t *testing.T) {
	in := []byte(get + get[:20])
	out, n, err := plaintext.AppendResponses(nil, in)
	if err != nil || n != len(get) || len(statuses(t, out)) != 1 {
		t.Fatalf("consumed %d of %d, err %v, want the first request only", n, len(in), err)
	}
	out, n, err = plaintext.AppendResponses(nil, []byte(get[:20]))
	if err != nil || n != 0 || len(out) != 0 {
		t.Fatalf("a partial request: consumed %d, %d bytes out, err %v", n, len(out), err)
	}
}

func TestBadRequestsAreRefused(t *testing.T) {
	for _, in := range []string{
		"GET /plaintext HTTP/1.0\r\n\r\n",
		"GET /plaintext\r\n\r\n",
		" /plaintext HTTP/1.1\r\n\r\n",
		"POST /plaintext HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"POST /plaintext HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
		"GET /plaintext HTTP/1.1\r\nX: " + strings.Repeat("a", 9000),
		"GET /plaintext HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n",
	} {
		out, n, err := plaintext.AppendResponses(nil, []byte(get+in))
		if !errors.Is(err, plaintext.ErrBadRequest) {
			t.Errorf("%.40q: err %v, want ErrBadRequest", in, err)
		}
		if n != len(get) || len(statuses(t, out)) != 1 {
			t.Errorf("%.40q: the good request before it was not answered (consumed %d)", in, n)
		}
	}
	if _, _, err := plaintext.AppendResponses(nil, []byte("GET /plaintext HTTP/1.1\r\nContent-Length: 0\r\n\r\n")); err != nil {
		t.Errorf("Content-Length: 0 refused: %v", err)
	}
}

// headerSet returns a response's header names, sorted by net/http.
func headerSet(t *testing.T, h http.Header) string {
	t.Helper()
	var names []string
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func TestHandlerSendsTheSameHeadersAsAppendResponse(t *testing.T) {
	for _, path := range []string{plaintext.Path, "/nothing"} {
		srv := httptest.NewServer(plaintext.Handler())
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		status := http.StatusOK
		if path != plaintext.Path {
			status = http.StatusNotFound
		}
		own, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(plaintext.AppendResponse(nil, status))), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != status || own.StatusCode != status {
			t.Fatalf("%s: statuses %d and %d, want %d", path, resp.StatusCode, own.StatusCode, status)
		}
		a, b := headerSet(t, resp.Header), headerSet(t, own.Header)
		if a != b || a != "Content-Length,Content-Type,Date,Server" {
			t.Fatalf("%s: net/http sends headers %s, AppendResponse %s", path, a, b)
		}
		for _, k := range []string{"Content-Length", "Content-Type", "Server"} {
			if resp.Header.Get(k) != own.Header.Get(k) {
				t.Errorf("%s: %s is %q from net/http, %q from AppendResponse", path, k, resp.Header.Get(k), own.Header.Get(k))
			}
		}
		if len(resp.Header.Get("Date")) != len(own.Header.Get("Date")) {
			t.Errorf("%s: Date %q vs %q", path, resp.Header.Get("Date"), own.Header.Get("Date"))
		}
	}
}

func TestAppendResponsesAllocatesNothingWithRoom(t *testing.T) {
	in := []byte(strings.Repeat(get, 16))
	out := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { out, _, _ = plaintext.AppendResponses(out[:0], in) }); n != 0 {
		t.Fatalf("AppendResponses allocates %v times per call", n)
	}
}

// FuzzAppendResponses feeds any bytes, whole and cut in two at every
// place a server's reads might cut them: it never panics, consumes whole
// requests only, and answers the same either way.
func FuzzAppendResponses(f *testing.F) {
	f.Add([]byte(get+missing+get), 7)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), 3)
	f.Add([]byte(get+"GET /plaintext HTTP/1.1\r\nX: "+strings.Repeat("a", 8150)+"\r\n\r\n"), 100)
	f.Add([]byte("GET /plaintext HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 10)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		whole, n, err := plaintext.AppendResponses(nil, in)
		if n < 0 || n > len(in) {
			t.Fatalf("consumed %d of %d", n, len(in))
		}
		if n > 0 && !bytes.HasSuffix(in[:n], []byte("\r\n\r\n")) {
			t.Fatalf("consumed %d bytes, not ending a request head", n)
		}
		if err != nil || len(in) == 0 {
			return
		}
		cut = int(uint(cut) % uint(len(in)+1))
		first, n1, err1 := plaintext.AppendResponses(nil, in[:cut])
		if err1 != nil {
			t.Fatalf("a prefix of a good stream refused: %v", err1)
		}
		rest := append(append([]byte{}, in[n1:cut]...), in[cut:]...)
		second, n2, err2 := plaintext.AppendResponses(first, rest)
		if err2 != nil || n1+n2 != n {
			t.Fatalf("cut at %d: consumed %d+%d, whole %d (err %v)", cut, n1, n2, n, err2)
		}
		// Dates may differ by a second between the calls: compare lengths
		// and the bytes around them.
		if len(second) != len(whole) {
			t.Fatalf("cut at %d: %d bytes of responses, whole %d", cut, len(second), len(whole))
		}
	})
}
