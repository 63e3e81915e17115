package epollinfo

import (
	"iter"
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// Fdinfo is the parsed text of /proc/PID/fdinfo/FD.
type Fdinfo struct {
	Pos   int64  // "pos:" the file offset
	Flags uint32 // "flags:" open(2) flags and O_CLOEXEC, printed in octal
	MntID int    // "mnt_id:" the mount's ID (Linux 3.15); -1 when absent
	Ino   uint64 // "ino:" the file's inode number (Linux 5.14); 0 when absent

	// Fields holds every other line in the order given: Key is the text
	// before the line's first colon, Value the rest without surrounding
	// blanks. A line without a colon is kept whole as a Key with an empty
	// Value. Lines of one kind may repeat ("inotify wd", one per watch).
	Fields []Field

	// Registrations lists the "tfd:" lines of an epoll descriptor, in the
	// kernel's order (which is also the order kcmp(2)'s KCMP_EPOLL_TFD
	// counts toff in). It is empty for any other kind of file.
	Registrations []Registration
}

// Field is one "key: value" line of an fdinfo file.
type Field struct{ Key, Value string }

// Field returns the value of the first field named key, and whether there
// was one.
func (f *Fdinfo) Field(key string) (string, bool) {
	for _, fl := range f.Fields {
		if fl.Key == key {
			return fl.Value, true
		}
	}
	return "", false
}

// Count returns how many fields are named key.
func (f *Fdinfo) Count(key string) int {
	n := 0
	for _, fl := range f.Fields {
		if fl.Key == key {
			n++
		}
	}
	return n
}

// Registration is one file in an epoll instance's interest set, as a
// "tfd:" line of the instance's fdinfo states it.
type Registration struct {
	// Fd is the descriptor number the file was added under. The kernel
	// records it at EPOLL_CTL_ADD and never updates it: after close(2) it
	// may name nothing, or another file.
	Fd int
	// Events is the interest set the kernel holds: what was asked for,
	// plus Err and Hup, which the kernel always adds. A OneShot
	// registration that has fired keeps only its flag bits (see Disarmed).
	Events epoll.Events
	// Data is the 64-bit user data reported with every event.
	Data uint64

	// HasFile says the line carries pos, ino and sdev (Linux 4.13 and
	// later); without them Pos, Ino and Dev are zero.
	HasFile bool
	Pos     int64  // the registered file's offset
	Ino     uint64 // the registered file's inode number
	Dev     Dev    // the device of the file system the inode lives on
}

// flagBits are the bits the kernel keeps when a OneShot registration fires
// (EP_PRIVATE_BITS in fs/eventpoll.c).
const flagBits = epoll.Wakeup | epoll.OneShot | epoll.Edge | epoll.Exclusive

// Disarmed reports whether the registration is a OneShot one that has
// fired: the kernel cleared its event bits, and it reports nothing until
// epoll_ctl(EPOLL_CTL_MOD) re-arms it.
func (r Registration) Disarmed() bool {
	return r.Events&epoll.OneShot != 0 && r.Events&^flagBits == 0
}

// Dev is a device number as major and minor.
type Dev struct{ Major, Minor uint32 }

// DevFromKernel decodes the kernel's internal device number, which fdinfo
// prints as sdev: major<<20 | minor (MKDEV in include/linux/kdev_t.h).
func DevFromKernel(sdev uint64) Dev {
	return Dev{Major: uint32(sdev >> 20), Minor: uint32(sdev & (1<<20 - 1))}
}

// DevFromStat decodes st_dev of stat(2), which uses another encoding than
// fdinfo's sdev (new_encode_dev), so the two compare only as Dev.
func DevFromStat(stDev uint64) Dev {
	return Dev{Major: unix.Major(stDev), Minor: unix.Minor(stDev)}
}

// String returns "major:minor", as /proc/PID/mountinfo prints it.
func (d Dev) String() string {
	return strconv.FormatUint(uint64(d.Major), 10) + ":" + strconv.FormatUint(uint64(d.Minor), 10)
}

// ParseFdinfo parses the text of /proc/PID/fdinfo/FD. It accepts the
// fdinfo of any descriptor; for an epoll descriptor Registrations lists
// the interest set, in both the pre-4.13 form (tfd, events, data) and the
// later one (with pos, ino, sdev).
//
// It fails with an *epoll.Error (Call "parse fdinfo") wrapping a
// *SyntaxError when a line of a known kind (pos, flags, mnt_id, ino, tfd)
// does not have its kernel format: a missing or non-numeric value, a number
// out of range, a tfd line with some but not all of pos, ino and sdev.
// Empty input is valid and yields an Fdinfo with no fields.
func ParseFdinfo(b []byte) (*Fdinfo, error) {
	f := &Fdinfo{MntID: -1}
	for n, line := range lines(b) {
		if err := f.parseLine(line); err != nil {
			return nil, syntaxError("parse fdinfo", n, line, err)
		}
	}
	return f, nil
}

func (f *Fdinfo) parseLine(line string) error {
	key, value, ok := strings.Cut(line, ":")
	if !ok {
		f.Fields = append(f.Fields, Field{Key: strings.TrimSpace(line)})
		return nil
	}
	value = strings.TrimSpace(value)
	var err error
	switch key {
	case "tfd":
		var r Registration
		if r, err = parseRegistration(line); err == nil {
			f.Registrations = append(f.Registrations, r)
		}
	case "pos":
		f.Pos, err = parseInt(value, 10, 64, "pos")
	case "flags":
		var v uint64
		v, err = parseUint(value, 8, 32, "flags")
		f.Flags = uint32(v)
	case "mnt_id":
		var v int64
		v, err = parseInt(value, 10, 32, "mnt_id")
		f.MntID = int(v)
	case "ino":
		f.Ino, err = parseUint(value, 10, 64, "ino")
	default:
		f.Fields = append(f.Fields, Field{Key: strings.TrimSpace(key), Value: value})
	}
	return err
}

// parseRegistration parses one line of ep_show_fdinfo:
//
//	tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x
//
// The padding of %8d and %16llx varies with the values, so the line is read
// as blank-separated words, not by column.
func parseRegistration(line string) (Registration, error) {
	var r Registration
	w := strings.Fields(line)
	if len(w) < 6 || w[0] != "tfd:" || w[2] != "events:" || w[4] != "data:" {
		return r, errorString("want \"tfd: N events: HEX data: HEX\"")
	}
	fd, err := parseInt(w[1], 10, 32, "tfd")
	if err != nil {
		return r, err
	}
	if fd < 0 {
		return r, errorString("tfd " + w[1] + " is negative")
	}
	ev, err := parseUint(w[3], 16, 32, "events")
	if err != nil {
		return r, err
	}
	if r.Data, err = parseUint(w[5], 16, 64, "data"); err != nil {
		return r, err
	}
	r.Fd, r.Events = int(fd), epoll.Events(ev)
	return r, r.parseFile(w[6:])
}

// parseFile reads the "pos:N ino:HEX sdev:HEX" words Linux 4.13 added.
// Words of other names are skipped: a later kernel may add more.
func (r *Registration) parseFile(words []string) error {
	var seen int
	for _, w := range words {
		key, value, ok := strings.Cut(w, ":")
		if !ok {
			return errorString("word " + strconv.Quote(w) + " is not key:value")
		}
		var err error
		switch key {
		case "pos":
			r.Pos, err = parseInt(value, 10, 64, "pos")
		case "ino":
			r.Ino, err = parseUint(value, 16, 64, "ino")
		case "sdev":
			var v uint64
			v, err = parseUint(value, 16, 32, "sdev")
			r.Dev = DevFromKernel(v)
		default:
			continue
		}
		if err != nil {
			return err
		}
		seen++
	}
	switch seen {
	case 0:
		return nil
	case 3:
		r.HasFile = true
		return nil
	}
	return errorString("pos, ino and sdev come together; this line has some of them")
}

// lines yields the lines of b that are not blank, each with its number
// (from 1) in b.
func lines(b []byte) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		n := 0
		for l := range strings.SplitSeq(string(b), "\n") {
			n++
			if strings.TrimSpace(l) != "" && !yield(n, l) {
				return
			}
		}
	}
}
