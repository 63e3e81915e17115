// Package epoll is the Linux epoll interface.
package epoll
