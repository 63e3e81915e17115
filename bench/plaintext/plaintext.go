// Package plaintext is the one definition of the HTTP server every
// implementation in this module runs: the TechEmpower "plaintext" test,
// HTTP/1.1 keep-alive, requests answered in order however deeply they are
// pipelined.
//
// Every response carries exactly four headers, the same on every
// implementation, so that no server wins by sending less:
//
//	HTTP/1.1 200 OK
//	Server: bench
//	Date: Mon, 02 Jan 2006 15:04:05 GMT
//	Content-Type: text/plain
//	Content-Length: 13
//
//	Hello, World!
//
// A request for any path but Path is answered 404 with the body "Not Found"
// and the same headers; the load generator's order check mixes such requests
// into a pipelined batch, since identical responses cannot show their order.
// Header order is free (net/http sorts its headers), the header set is not.
//
// The servers that parse HTTP themselves (gnet, netpoll, net, the C reference,
// eventpoll's server) share AppendResponses; net/http and nbio's nbhttp run
// Handler behind their own parsers.
package plaintext

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	// Path is the one path answered 200.
	Path = "/plaintext"
	// Body is the 200 response's body.
	Body = "Hello, World!"
	// NotFoundBody is the body of the 404 given to every other path.
	NotFoundBody = "Not Found"
	// ServerName is the Server header's value on every implementation.
	ServerName = "bench"
	// ContentType is the Content-Type header's value.
	ContentType = "text/plain"
)

// ErrBadRequest is returned by AppendResponses for bytes that are not an
// HTTP/1.1 request without a body; the server answers nothing more and
// closes the connection.
var ErrBadRequest = errors.New("plaintext: malformed or unsupported request")

// maxHeader bounds a request's head, its blank line included: a client that
// sends more without the blank line is refused rather than buffered without
// end.
const maxHeader = 8 << 10

// AppendResponses answers every complete request at the front of in,
// appending one response per request to out in the order the requests came,
// and reports how many bytes of in it consumed. An incomplete request at the
// end is left for the caller to keep until more bytes arrive. A malformed
// request, a request with a body, or a head longer than 8 KiB gives
// ErrBadRequest, with the responses to the requests before it already in out.
func AppendResponses(out, in []byte) (_ []byte, consumed int, err error) {
	for consumed < len(in) {
		rest := in[consumed:]
		// Looking no further than maxHeader makes the limit the same
		// however the stream was cut into reads.
		end := bytes.Index(rest[:min(len(rest), maxHeader)], headEnd)
		if end < 0 {
			if len(rest) >= maxHeader {
				return out, consumed, ErrBadRequest
			}
			return out, consumed, nil
		}
		ok, err := parseHead(rest[:end+2])
		if err != nil {
			return out, consumed, err
		}
		if ok {
			out = AppendResponse(out, http.StatusOK)
		} else {
			out = AppendResponse(out, http.StatusNotFound)
		}
		consumed += end + len(headEnd)
	}
	return out, consumed, nil
}

var (
	headEnd = []byte("\r\n\r\n")
	crlf    = []byte("\r\n")
	http11  = []byte("HTTP/1.1")
)

// parseHead checks one request head (request line and header lines, each
// ending in CRLF) and reports whether it asks for Path.
func parseHead(head []byte) (found bool, err error) {
	eol := bytes.Index(head, crlf)
	line := head[:eol]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false, ErrBadRequest
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 || !bytes.Equal(line[sp1+1+sp2+1:], http11) {
		return false, ErrBadRequest
	}
	path := line[sp1+1 : sp1+1+sp2]
	for h := head[eol+2:]; len(h) > 0; {
		eol := bytes.Index(h, crlf)
		if hasBody(h[:eol]) {
			return false, ErrBadRequest
		}
		h = h[eol+2:]
	}
	return string(path) == Path, nil
}

// hasBody reports whether a header line announces a request body, which
// this server does not read (the plaintext test sends none).
func hasBody(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
	switch {
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		return true
	case bytes.EqualFold(name, []byte("Content-Length")):
		return !bytes.Equal(value, []byte("0"))
	}
	return false
}

// AppendResponse appends the response with the given status (200 or 404) to
// out.
func AppendResponse(out []byte, status int) []byte {
	body := Body
	if status == http.StatusOK {
		out = append(out, "HTTP/1.1 200 OK\r\n"...)
	} else {
		body = NotFoundBody
		out = append(out, "HTTP/1.1 404 Not Found\r\n"...)
	}
	out = append(out, "Server: "+ServerName+"\r\nDate: "...)
	out = append(out, Date()...)
	out = append(out, "\r\nContent-Type: "+ContentType+"\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n\r\n"...)
	return append(out, body...)
}

// Handler answers the same requests for servers built on net/http's
// Handler interface (net/http itself, nbio's nbhttp). Those servers add the
// Date header themselves, in http.TimeFormat.
func Handler() http.Handler { return handler{} }

type handler struct{}

var (
	serverValue = []string{ServerName}
	typeValue   = []string{ContentType}
	okLength    = []string{strconv.Itoa(len(Body))}
	nfLength    = []string{strconv.Itoa(len(NotFoundBody))}
	okBody      = []byte(Body)
	nfBody      = []byte(NotFoundBody)
)

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Server"] = serverValue
	h["Content-Type"] = typeValue
	if r.URL.Path != Path {
		h["Content-Length"] = nfLength
		w.WriteHeader(http.StatusNotFound)
		w.Write(nfBody)
		return
	}
	h["Content-Length"] = okLength
	w.Write(okBody)
}

// Date returns the current time in the Date header's format
// (http.TimeFormat). It is formatted once a second, as the C reference and
// most servers cache it; the slice must not be modified.
func Date() []byte {
	now := time.Now()
	if d := date.Load(); d != nil && d.sec == now.Unix() {
		return d.text
	}
	d := &dateText{sec: now.Unix()}
	d.text = now.UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)), http.TimeFormat)
	date.Store(d)
	return d.text
}

type dateText struct {
	sec  int64
	text []byte
}

var date atomic.Pointer[dateText]
