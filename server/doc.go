// Package server serves TCP, Unix and UDP sockets on a few loops.
package server
