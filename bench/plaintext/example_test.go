package plaintext_test

import (
	"bytes"
	"fmt"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// Two pipelined requests and the start of a third: two responses, the
// third request's bytes left for the next read.
func ExampleAppendResponses() {
	in := []byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /plain")
	out, consumed, err := plaintext.AppendResponses(nil, in)
	fmt.Println(err, bytes.Count(out, []byte("HTTP/1.1 200 OK")), bytes.Count(out, []byte("HTTP/1.1 404")), string(in[consumed:]))
	// Output: <nil> 1 1 GET /plain
}
