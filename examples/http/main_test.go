package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T) string {
	t.Helper()
	s, err := newServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	t.Cleanup(func() { s.Close() })
	return s.Addr().String()
}

// dial serves the example and returns a connection to it.
func dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestHTTPClientKeepsItsConnection(t *testing.T) {
	addr := start(t)
	conns := 0
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		conns++
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range 5 {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != body || resp.ContentLength != int64(len(body)) {
			t.Fatalf("body %q (length %d), %v", b, resp.ContentLength, err)
		}
	}
	if conns != 1 {
		t.Fatalf("5 requests took %d connections; want 1 kept alive", conns)
	}
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	c := dial(t)
	reqs := "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	// Split mid-request, so that a request waits for its rest.
	c.Write([]byte(reqs[:40]))
	time.Sleep(10 * time.Millisecond)
	c.Write([]byte(reqs[40:]))
	r := bufio.NewReader(c)
	for i := 1; i <= 3; i++ {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != body {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, b)
		}
		if (i == 3) != resp.Close {
			t.Fatalf("response %d: Connection: close is %v", i, resp.Close)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close: %v; want EOF", err)
	}
}

func TestManyPipelinedRequests(t *testing.T) {
	c := dial(t)
	const n = 500 // more than one OnData answers at once
	go c.Write([]byte(strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", n)))
	r := bufio.NewReader(c)
	for i := range n {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i, n, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
}

func TestBadRequestAndHTTP10(t *testing.T) {
	addr := start(t)
	for _, c := range []struct{ req, status string }{
		{"nonsense\r\n\r\n", "HTTP/1.1 400"},
		{"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "HTTP/1.1 400"},
		{"GET / HTTP/1.0\r\n\r\n", "HTTP/1.1 200"}, // HTTP/1.0 closes after the reply
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte(c.req))
		b, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || !strings.HasPrefix(string(b), c.status) || !strings.Contains(string(b), "Connection: close") {
			t.Fatalf("%q: got %q, %v; want %s and the connection closed", c.req, b, err, c.status)
		}
	}
}

// FuzzRequest checks the request parser: it never panics, never measures
// a request longer than the bytes it was given, and finds none before the
// end of a head.
func FuzzRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		size, _, _ := request(b)
		if size < 0 || size > len(b) {
			t.Fatalf("request(%q) = %d: outside the %d bytes given", b, size, len(b))
		}
		if size > 0 && !strings.Contains(string(b[:size]), "\r\n\r\n") {
			t.Fatalf("request(%q) = %d before the end of a head", b, size)
		}
	})
}
