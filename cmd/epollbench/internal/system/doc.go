// Package system is what epollbench's experiments ask of the machine
// beyond epoll: descriptor limits and counts, CPU pinning, threads with a
// descriptor table of their own, perf's nested epoll instances, and the raw
// system calls a harness makes where the Go runtime's bookkeeping around a
// call would be measured instead of the code under test.
package system
