package uring

import (
	"math/bits"
	"testing"
	"unsafe"
)

// The kernel reads these structures by byte offset; a field out of place
// would send every request to the wrong fd or address.
func TestSQEAndCQELayoutsMatchKernel(t *testing.T) {
	var s SQE
	var c CQE
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(io_uring_sqe)", unsafe.Sizeof(s), 64},
		{"sqe.opcode", unsafe.Offsetof(s.Opcode), 0},
		{"sqe.flags", unsafe.Offsetof(s.Flags), 1},
		{"sqe.ioprio", unsafe.Offsetof(s.IOPrio), 2},
		{"sqe.fd", unsafe.Offsetof(s.Fd), 4},
		{"sqe.off", unsafe.Offsetof(s.Off), 8},
		{"sqe.addr", unsafe.Offsetof(s.Addr), 16},
		{"sqe.len", unsafe.Offsetof(s.Len), 24},
		{"sqe.op_flags", unsafe.Offsetof(s.OpFlags), 28},
		{"sqe.user_data", unsafe.Offsetof(s.UserData), 32},
		{"sqe.buf_index", unsafe.Offsetof(s.BufIndex), 40},
		{"sqe.personality", unsafe.Offsetof(s.Personality), 42},
		{"sqe.splice_fd_in", unsafe.Offsetof(s.SpliceFdIn), 44},
		{"sqe.addr3", unsafe.Offsetof(s.Addr3), 48},
		{"sizeof(io_uring_cqe)", unsafe.Sizeof(c), 16},
		{"cqe.user_data", unsafe.Offsetof(c.UserData), 0},
		{"cqe.res", unsafe.Offsetof(c.Res), 8},
		{"cqe.flags", unsafe.Offsetof(c.Flags), 12},
		{"sizeof(io_uring_params)", unsafe.Sizeof(params{}), 120},
		{"params.sq_off", unsafe.Offsetof(params{}.sqOff), 40},
		{"params.cq_off", unsafe.Offsetof(params{}.cqOff), 80},
		{"sizeof(io_sqring_offsets)", unsafe.Sizeof(sqringOffsets{}), 40},
		{"sizeof(io_cqring_offsets)", unsafe.Sizeof(cqringOffsets{}), 40},
		{"sizeof(io_uring_getevents_arg)", unsafe.Sizeof(getEventsArg{}), 24},
		{"getevents_arg.ts", unsafe.Offsetof(getEventsArg{}.ts), 16},
		{"sizeof(io_uring_probe_op)", unsafe.Sizeof(probeOp{}), 8},
		{"io_uring_probe.ops", unsafe.Offsetof(probe{}.ops), 16},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, kernel has %d", c.name, c.got, c.want)
		}
	}
}

func TestPoll32EventsKeepsMaskOnLittleEndian(t *testing.T) {
	const mask uint32 = 0x2001 | 1<<31 // POLLIN|POLLRDHUP and the top bit
	var s SQE
	s.PrepPollAdd(3, mask)
	if !bigEndian && s.OpFlags != mask {
		t.Fatalf("poll32_events = %#x, want %#x", s.OpFlags, mask)
	}
	if bigEndian && s.OpFlags != bits.RotateLeft32(mask, 16) {
		t.Fatalf("poll32_events = %#x, want halves swapped", s.OpFlags)
	}
}
