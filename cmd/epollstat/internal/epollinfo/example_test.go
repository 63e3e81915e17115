package epollinfo_test

import (
	"fmt"
	"log"

	"github.com/eventpoll/eventpoll/cmd/epollstat/internal/epollinfo"
)

// The interest set of an epoll descriptor, as /proc/PID/fdinfo/FD lists it:
// one line per registration, with the registered file's inode and device
// since Linux 4.13.
func ExampleParseFdinfo() {
	text := []byte("pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t26\n" +
		"tfd:        8 events: 80000019 data:                8  pos:0 ino:fd62 sdev:9\n" +
		"tfd:        5 events: 40000000 data:       c0ffee0005  pos:0 ino:1a sdev:10\n")
	fi, err := epollinfo.ParseFdinfo(text)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range fi.Registrations {
		fmt.Printf("fd %d %v data %#x inode %d on %v disarmed %v\n", r.Fd, r.Events, r.Data, r.Ino, r.Dev, r.Disarmed())
	}
	// Output:
	// fd 8 IN|ERR|HUP|ET data 0x8 inode 64866 on 0:9 disarmed false
	// fd 5 ONESHOT data 0xc0ffee0005 inode 26 on 0:16 disarmed true
}

// The sockets of a network namespace, keyed by the inode that
// readlink(/proc/PID/fd/N) shows as "socket:[INODE]".
func ExampleParseNet() {
	text := []byte("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 81464 1 0 100 0 0 10 0\n")
	socks, err := epollinfo.ParseNet("tcp", text)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range socks {
		fmt.Printf("socket:[%d] %v\n", s.Ino, s)
	}
	// Output: socket:[81464] tcp 127.0.0.1:8080 LISTEN
}
