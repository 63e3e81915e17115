package ring

import "github.com/eventpoll/eventpoll/internal/token"

// Every request the ring submits carries a 64-bit tag in its user_data,
// which the kernel copies into each of its completions, and every
// registration of the epoll instance behind the ring carries the same tag
// in its data. A registration's tag is its token.Table token (slot index
// and generation); Delete and Modify move the generation on, so a
// completion or an event still in the ring, or still on its way, from an
// earlier request on the slot no longer matches and is dropped, as the Go
// runtime drops netpoll events whose pollDesc sequence number has moved
// on. Bit 63 (token.Internal) marks the ring's own requests.
const (
	tagWake      = uint64(token.Internal) | 1 // the no-op Close submits to end a blocked Wait
	tagRemove    = uint64(token.Internal) | 2 // POLL_REMOVE and ASYNC_CANCEL results: nothing to do
	tagEpollWait = uint64(token.Internal) | 3 // the EPOLL_WAIT request of EngineEpollWait
)
