//go:build !amd64 && !386

package epoll

// Event is one readiness report, laid out exactly as the kernel's struct
// epoll_event so that Wait fills a []Event in place.
//
// Outside amd64 and 386 the kernel's struct is naturally aligned: 16 bytes,
// four of padding after Events, the 64-bit data at offset 8.
type Event struct {
	Events Events // the readiness the kernel reports (In, Out, Err, Hup, ...)
	_      uint32
	data   uint64 // epoll_data_t, the 64-bit value given to Add or Modify
}

// Data returns the 64-bit value given to Add or Modify for the registration
// that produced this event, exactly as it was given.
func (e Event) Data() uint64 { return e.data }

// SetData stores d as the event's 64-bit data.
func (e *Event) SetData(d uint64) { e.data = d }
