// Command epollbench reproduces the experiments of the documents eventpoll
// implements and compares our figures with their references.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		e, ok := experiments[os.Args[1]]
		if !ok {
			fmt.Fprintf(os.Stderr, "epollbench: unknown experiment %q\n", os.Args[1])
			os.Exit(2)
		}
		if err := e.Run(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "epollbench:", err)
			os.Exit(1)
		}
		return
	}
	fmt.Println("epollbench: no experiments are registered yet")
}
