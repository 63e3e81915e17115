package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// HTTP is the HTTP generator: Conns keep-alive connections, each sending
// Depth requests for plaintext.Path at a time (Depth 1: no pipelining) and
// checking every response against package plaintext's rules: status line,
// exactly the four headers with their values, the body.
type HTTP struct {
	Addr    string
	Conns   int
	Depth   int  // requests per batch; 0 means 1
	Threads int  // goroutines on epoll instances of their own, as Echo.Threads
	Spin    bool // those goroutines poll, as Echo.Spin
	Timing
}

// request is the request the generator sends: what wrk sends, less its
// User-Agent-free defaults, with the Host header HTTP/1.1 requires.
func request(addr, path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
}

// Run opens the connections, runs the closed loop for the warm-up and the
// measured duration, and closes them. The error names the first response
// that breaks the rules.
func (h HTTP) Run(ctx context.Context) (*Result, error) {
	if h.Depth == 0 {
		h.Depth = 1
	}
	if h.Conns < 1 || h.Depth < 1 || h.Depth > 1024 || h.Duration <= 0 || h.Threads < 0 {
		return nil, fmt.Errorf("http: %d connections, depth %d, duration %v, %d threads", h.Conns, h.Depth, h.Duration, h.Threads)
	}
	if h.Spin || h.Threads > 0 {
		return drive(ctx, Paced{Addr: h.Addr, App: "http", Conns: h.Conns, Spin: h.Spin, Threads: h.Threads, Timing: h.Timing}, h.Depth)
	}
	conns, err := dialAll(ctx, h.Addr, h.Conns, nil)
	if err != nil {
		return nil, err
	}
	s := &session{conns: conns}
	defer s.close()
	batch := []byte(strings.Repeat(request(h.Addr, plaintext.Path), h.Depth))
	return s.measure(ctx, h.Timing, func(i int, c net.Conn, r *recorder) error {
		br := bufio.NewReaderSize(c, 16<<10)
		for now := time.Now(); now.Before(r.to); {
			sent := time.Now()
			if _, err := c.Write(batch); err != nil {
				return fmt.Errorf("http: connection %d: write: %w", i, err)
			}
			for m := range h.Depth {
				n, err := readResponse(br, http.StatusOK)
				if err != nil {
					return fmt.Errorf("http: connection %d, response %d of a batch of %d: %w", i, m+1, h.Depth, err)
				}
				now = time.Now()
				r.done(sent, now, n)
			}
		}
		if br.Buffered() > 0 {
			return fmt.Errorf("http: connection %d: %d bytes after the last response", i, br.Buffered())
		}
		return checkQuiet(c, 20*time.Millisecond)
	})
}

// ResponseError is a response that breaks package plaintext's rules.
type ResponseError struct {
	Reason string
	Line   string // the offending line, as received
}

func (e *ResponseError) Error() string {
	if e.Line == "" {
		return "bad response: " + e.Reason
	}
	return fmt.Sprintf("bad response: %s: %q", e.Reason, e.Line)
}

func badResponse(reason string, line []byte) error {
	return &ResponseError{Reason: reason, Line: string(line)}
}

// readResponse reads one response and checks it: the status line for
// status (200 or 404), exactly the headers Server, Date, Content-Type and
// Content-Length with the values plaintext defines, and the body. It returns
// the response's size in bytes.
func readResponse(br *bufio.Reader, status int) (int, error) {
	wantLine, wantBody := "HTTP/1.1 200 OK\r\n", plaintext.Body
	if status != http.StatusOK {
		wantLine, wantBody = "HTTP/1.1 404 Not Found\r\n", plaintext.NotFoundBody
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, fmt.Errorf("status line: %w", err)
	}
	if string(line) != wantLine {
		return 0, badResponse("status line is not "+strconv.Quote(wantLine), line)
	}
	size := len(line)
	var seen [4]bool // Server, Date, Content-Type, Content-Length
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("header: %w", err)
		}
		size += len(line)
		if len(line) == 2 && line[0] == '\r' {
			break
		}
		k, err := checkHeader(line, len(wantBody))
		if err != nil {
			return 0, err
		}
		if seen[k] {
			return 0, badResponse("header repeated", line)
		}
		seen[k] = true
	}
	for k, ok := range seen {
		if !ok {
			return 0, badResponse("header "+headerNames[k]+" missing", nil)
		}
	}
	var body [32]byte
	if _, err := io.ReadFull(br, body[:len(wantBody)]); err != nil {
		return 0, fmt.Errorf("body: %w", err)
	}
	if string(body[:len(wantBody)]) != wantBody {
		return 0, badResponse("body is not "+strconv.Quote(wantBody), body[:len(wantBody)])
	}
	return size + len(wantBody), nil
}

var headerNames = [4]string{"Server", "Date", "Content-Type", "Content-Length"}

// checkHeader checks one header line against the rules and returns which of
// headerNames it is.
func checkHeader(line []byte, bodyLen int) (int, error) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 || len(line) < colon+2 || line[len(line)-2] != '\r' {
		return 0, badResponse("malformed header", line)
	}
	name, value := line[:colon], bytes.TrimSpace(line[colon+1:len(line)-2])
	k := -1
	for i, n := range headerNames {
		if bytes.EqualFold(name, []byte(n)) {
			k = i
		}
	}
	ok := false
	switch k {
	case 0:
		ok = string(value) == plaintext.ServerName
	case 1:
		ok = len(value) == len(http.TimeFormat) && bytes.HasSuffix(value, []byte(" GMT"))
	case 2:
		ok = string(value) == plaintext.ContentType
	case 3:
		ok = string(value) == strconv.Itoa(bodyLen)
	default:
		return 0, badResponse("header outside the rules (Server, Date, Content-Type, Content-Length)", line)
	}
	if !ok {
		return 0, badResponse("wrong value", line)
	}
	return k, nil
}
