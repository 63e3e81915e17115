package ring

// Every request the ring submits carries a 64-bit tag in its user_data,
// which the kernel copies into each of its completions. A registration's
// tag is its slot index (low 32 bits) and the slot's generation (bits
// 32..62); Delete and Modify bump the generation, so a completion still in
// the ring, or still on its way, from an earlier request on the slot no
// longer matches and is dropped, as the Go runtime drops netpoll events
// whose pollDesc sequence number has moved on. Bit 63 marks the ring's own
// requests.
const (
	tagInternal  uint64 = 1 << 63
	tagWake             = tagInternal | 1 // the no-op Close submits to end a blocked Wait
	tagRemove           = tagInternal | 2 // POLL_REMOVE and ASYNC_CANCEL results: nothing to do
	tagEpollWait        = tagInternal | 3 // the EPOLL_WAIT request of EngineEpollWait
)

const genMask = 1<<31 - 1

func makeTag(idx, gen uint32) uint64 { return uint64(gen&genMask)<<32 | uint64(idx) }

func splitTag(t uint64) (idx, gen uint32) { return uint32(t), uint32(t>>32) & genMask }
