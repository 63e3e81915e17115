//go:build amd64 || 386

package epoll

// Event is one readiness report, laid out exactly as the kernel's struct
// epoll_event so that Wait fills a []Event in place.
//
// On amd64 and 386 the kernel declares the struct __attribute__((packed)):
// 12 bytes, the 64-bit data at offset 4. Go cannot express a misaligned
// uint64, so the data is held as two 32-bit halves (little-endian).
type Event struct {
	Events Events    // the readiness the kernel reports (In, Out, Err, Hup, ...)
	data   [2]uint32 // epoll_data_t, the 64-bit value given to Add or Modify
}

// Data returns the 64-bit value given to Add or Modify for the registration
// that produced this event, exactly as it was given.
func (e Event) Data() uint64 { return uint64(e.data[0]) | uint64(e.data[1])<<32 }

// SetData stores d as the event's 64-bit data.
func (e *Event) SetData(d uint64) { e.data[0], e.data[1] = uint32(d), uint32(d>>32) }
