// Package source turns every other thing a server waits for into a pollable
// file descriptor that an epoll instance can watch beside its sockets: one
// queue for everything, as the first reviewers of epoll asked in 2002
// ("accept, sockets and pipes, timers, aio, futexes, dnotify"). Linux has
// since given each of them a descriptor; this package gives each a typed,
// documented object.
//
//	Timer     timerfd   expirations of a one-shot or periodic timer, ns resolution,
//	                    on CLOCK_MONOTONIC, CLOCK_REALTIME or CLOCK_BOOTTIME
//	Notifier  eventfd   a wake-up from any goroutine; merged, or a semaphore
//	Signals   os/signal a set of signals as readiness (see Signals for why not signalfd)
//	Watcher   inotify   changes to files and directories, decoded, with names
//	Process   pidfd     a process's exit, then its exit status (Linux 5.3)
//
// Every source has the same two methods, the Source interface: Fd, the
// descriptor to register for epoll.In, and Close. Each also has a read
// method (Expirations, Read, Wait) that consumes what made the descriptor
// readable.
//
// # Reading: drain until EAGAIN
//
// All descriptors are opened non-blocking and close-on-exec. A read method
// called when nothing is pending returns an error matching unix.EAGAIN
// (errors.Is(err, unix.EAGAIN)). Drain until it: this is required with
// edge-triggered registrations (epoll.Edge), since a report comes once per
// change and whatever a loop leaves unread is not reported again; with level
// triggering a source left undrained is reported again at the next wait.
//
// Draining allocates nothing: the EAGAIN error of each read method is made
// once, and Timer.Expirations, Notifier.Read, Notifier.Notify, Signals.Read
// and Process.Wait (while the process runs) allocate nothing at all.
// Watcher.Read allocates only the strings of the events it decodes, one per
// event that carries a name, and dst's growth (see Watcher.Read). The
// check a loop makes, errors.Is(err, unix.EAGAIN), allocates nothing
// either.
//
// # Errors
//
// Every error is an *epoll.Error with Pkg "source", naming the call and, for
// kernel errors, keeping the errno: errors.Is(err, unix.ENOENT) for a
// missing path, errors.Is(err, unix.ESRCH) for a process that does not
// exist. Arguments refused before any system call (an unknown clock, a
// negative interval, a number the kernel would truncate) match unix.EINVAL.
// A kernel without the facility gives an error matching ErrUnsupported (and
// errors.ErrUnsupported). No constructor leaves a descriptor open when it
// fails.
//
// # Close and zero values
//
// Close is idempotent and safe while other goroutines are inside any method
// of the same source: those calls either finish first or return an error
// matching ErrClosed, and no system call is issued on the descriptor number
// after Close has released it, since by then the number may belong to
// another file (each source counts the calls inside it, as the Go runtime's
// fdMutex does, and closes the number only when they have left). Delete a source's descriptor from an epoll
// instance before closing the source, as for any descriptor: the kernel
// keeps a registration alive while any duplicate of the file is open.
//
// The zero value of every source type is "never created": its methods
// return an error matching ErrClosed (its cause is epoll.ErrNotCreated), Fd
// returns -1, and no call ever touches descriptor 0.
package source
