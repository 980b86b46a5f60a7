// Command echo_server is the Go twin of examples/echo_server.c: a TCP echo
// server with a graceful shutdown, for the server benchmarks.
//
//	echo_server 127.0.0.1:8080      (":0" picks a free port)
//
// Prints "listening on <host:port>" once it listens. A goroutine per
// connection writes back every byte it reads (16 KiB buffer) until the
// peer closes. SIGINT or SIGTERM stops it: it closes the listener, ends the
// connections' waits for more bytes (a read deadline in the past) while
// letting each write back what it already read, waits for them and exits
// with status 0. A second signal, or SERVER_GRACE_MS (default 10 s), ends
// the remaining writes too. Run with GOMAXPROCS equal to ringo's workers.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const bufSize = 16 * 1024

// conns tracks live connections so that a shutdown can reach them.
type conns struct {
	mu       sync.Mutex
	set      map[net.Conn]struct{}
	stopping bool // reads are being ended
	hard     bool // writes are being ended too
	wg       sync.WaitGroup
}

func (cs *conns) add(c net.Conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.set[c] = struct{}{}
	cs.wg.Add(1)
	if cs.hard {
		c.SetDeadline(time.Unix(1, 0))
	} else if cs.stopping {
		c.SetReadDeadline(time.Unix(1, 0))
	}
}

func (cs *conns) remove(c net.Conn) {
	cs.mu.Lock()
	delete(cs.set, c)
	cs.mu.Unlock()
	cs.wg.Done()
}

// stop ends every connection's wait for bytes (hard: its writes as well).
func (cs *conns) stop(hard bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.stopping = true
	cs.hard = cs.hard || hard
	for c := range cs.set {
		if hard {
			c.SetDeadline(time.Unix(1, 0))
		} else {
			c.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

func echo(cs *conns, c net.Conn) {
	defer cs.remove(c)
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func graceFromEnv() time.Duration {
	s := os.Getenv("SERVER_GRACE_MS")
	if s == "" {
		return 10 * time.Second
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "bad SERVER_GRACE_MS '%s': want a positive number of milliseconds\n", s)
		os.Exit(2)
	}
	return time.Duration(v) * time.Millisecond
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s HOST:PORT\n", os.Args[0])
		os.Exit(2)
	}
	grace := graceFromEnv()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo_server: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	cs := &conns{set: make(map[net.Conn]struct{})}
	stopped := make(chan struct{})
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "echo_server: %v: shutting down\n", sig)
		close(stopped)
		ln.Close()
		cs.stop(false)
	}()

	status := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-stopped:
			default:
				// Out of descriptors and the like: pause and retry,
				// as net/http's Server does.
				var te interface{ Temporary() bool }
				if errors.As(err, &te) && te.Temporary() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				fmt.Fprintf(os.Stderr, "echo_server: accept: %v\n", err)
				status = 1
				ln.Close()
				cs.stop(false)
			}
			break
		}
		cs.add(c)
		go echo(cs, c)
	}

	done := make(chan struct{})
	go func() { cs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sigs:
		cs.stop(true)
		<-done
	case <-time.After(grace):
		cs.stop(true)
		<-done
	}
	os.Exit(status)
}
