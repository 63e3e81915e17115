// Package epollinfo parses what the kernel says about epoll instances
// through /proc: the registrations listed in /proc/PID/fdinfo/FD for an
// epoll descriptor, and the sockets listed in /proc/PID/net/*, by inode.
// It reads nothing itself; callers hand it the bytes of a file.
//
// # fdinfo of an epoll descriptor
//
// Since Linux 3.8 (fs/eventpoll.c, ep_show_fdinfo) the fdinfo of an epoll
// descriptor ends with one line per registration, in the order of the
// instance's red-black tree:
//
//	tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x
//
// tfd is the descriptor number given to epoll_ctl(EPOLL_CTL_ADD), recorded
// once and never updated; events the interest set as the kernel holds it
// (EPOLLERR and EPOLLHUP are always added, and a fired EPOLLONESHOT
// registration keeps only its flag bits until EPOLL_CTL_MOD re-arms it);
// data the 64-bit user data. Since Linux 4.13 the line also gives the
// registered file's position, inode number (hexadecimal) and the device of
// its file system in the kernel's internal encoding (major<<20 | minor):
// with them a reader can tell whether the number tfd still names the file
// that was registered. Before 4.13 the line ends after data.
//
// A registration belongs to the open file description, not to the number:
// close(2) of tfd leaves it in place while another descriptor (a dup, a
// forked child, a message in flight) keeps the file open, and events keep
// coming with the old data. The kernel removes it only when the file's last
// reference goes. ParseFdinfo reports what the kernel lists; judging which
// registrations are stale is the caller's business.
//
// The lines before the registrations are the fdinfo common to every file:
// pos, flags (octal), mnt_id (Linux 3.15) and ino (Linux 5.14). The fdinfo
// of other kinds of file carries its own lines after these (eventfd-count,
// clockid, sigmask, Pid, "inotify wd:..."); ParseFdinfo keeps them as
// fields, so one parser serves every descriptor.
//
// # /proc/net
//
// ParseNet reads the socket tables of a network namespace as the kernel
// prints them: tcp, tcp6, udp, udp6, udplite, udplite6, raw and raw6 (one
// format: hexadecimal addresses in the host's byte order, hexadecimal
// ports), unix (path or abstract name, type, state) and netlink (protocol,
// port id). Each socket is keyed by the inode of its file, the number that
// readlink(2) of /proc/PID/fd/N shows as "socket:[INODE]".
//
// # Errors
//
// Malformed input gives an *epoll.Error whose Call names the parse
// ("parse fdinfo", "parse /proc/net/tcp") and whose cause is a *SyntaxError
// naming the line and what is wrong with it. Nothing panics on any input.
package epollinfo
