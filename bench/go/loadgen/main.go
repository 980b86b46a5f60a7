// Command loadgen is the load generator of the TCP server benchmarks, run
// alike against examples/echo_server (ringo) and bench/go/echo_server (Go),
// and, for idle connections, against the two HTTP servers. It uses only
// Go's net package, so it favours neither side; every byte echoed back is
// checked, so a server that answers fast and wrong fails the run.
//
//	loadgen -mode echo   -addr HOST:PORT [-conns 100] [-size 64] [-duration 5s]
//	    Each connection sends size bytes (its id and a counter in them),
//	    reads size bytes back and compares, as fast as it can, for duration.
//	    Last line: "echo: X round trips/s".
//	loadgen -mode stream -addr HOST:PORT [-conns 4] [-size 16384] [-duration 5s]
//	    Each connection writes size-byte chunks of a pseudo-random stream
//	    (period 16385 bytes, so a lost or repeated chunk shows) for
//	    duration, then half-closes; a second goroutine reads the echo and
//	    compares every byte until EOF. Last line: "stream: X MB/s" (bytes
//	    echoed back per second, 1 MB = 10^6 bytes).
//	loadgen -mode idle   -addr HOST:PORT [-conns 10000] [-proto echo|http]
//	    Opens conns connections, 64 at a time, and makes one exchange on each
//	    (64 echoed bytes, or GET / answered "Hello, World!"), prints
//	    "# ready N" and waits for a line (or EOF) on stdin, with every
//	    connection open and idle; then closes them. Last line: "idle: N conns".
//
// Before the last line come "# ..." details; "# ops N seconds S" gives the
// operations (round trips, bytes) and the measured time. Any failure exits
// 1 with "loadgen: ..." on stderr.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: %s\n", fmt.Sprintf(format, args...))
	os.Exit(1)
}

func dial(addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fail("dial %s: %v", addr, err)
	}
	return c
}

// ---- echo --------------------------------------------------------------------

// roundTrip sends msg (id and counter in its first 16 bytes) and checks
// that the same bytes come back.
func roundTrip(c net.Conn, msg, got []byte, id, i uint64) {
	binary.LittleEndian.PutUint64(msg[0:], id)
	binary.LittleEndian.PutUint64(msg[8:], i)
	if _, err := c.Write(msg); err != nil {
		fail("conn %d: write: %v", id, err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		fail("conn %d: read: %v", id, err)
	}
	if !bytes.Equal(msg, got) {
		fail("conn %d: round trip %d: echoed bytes differ", id, i)
	}
}

// timedLoad is the measured phase both loads share: it releases the
// connections' goroutines (start), lets them run for d, tells them to stop,
// waits for them, closes the connections and returns the time taken.
func timedLoad(cs []net.Conn, start chan struct{}, stop *atomic.Bool, wg *sync.WaitGroup,
	d time.Duration) time.Duration {
	t0 := time.Now()
	close(start)
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(t0)
	for _, c := range cs {
		c.Close()
	}
	return elapsed
}

func runEcho(addr string, conns, size int, d time.Duration) {
	if size < 16 {
		fail("-size must be at least 16 for echo")
	}
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dial(addr)
	}
	var stop atomic.Bool
	var total atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range cs {
		wg.Add(1)
		go func(id uint64, c net.Conn) {
			defer wg.Done()
			msg := make([]byte, size)
			for j := 16; j < size; j++ {
				msg[j] = byte(int(id) + j)
			}
			got := make([]byte, size)
			roundTrip(c, msg, got, id, 0) // warm: connection accepted and served
			<-start
			var n int64
			for i := uint64(1); !stop.Load(); i++ {
				roundTrip(c, msg, got, id, i)
				n++
			}
			total.Add(n)
		}(uint64(i), c)
	}
	elapsed := timedLoad(cs, start, &stop, &wg, d)
	n := total.Load()
	fmt.Printf("# conns %d size %d\n", conns, size)
	fmt.Printf("# ops %d seconds %.3f\n", n, elapsed.Seconds())
	fmt.Printf("echo: %.0f round trips/s\n", float64(n)/elapsed.Seconds())
}

// ---- stream ------------------------------------------------------------------

const period = 16385 // not a multiple of any write size used: a lost chunk shifts the phase

func runStream(addr string, conns, size int, d time.Duration) {
	const readSize = 64 * 1024
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dial(addr)
	}
	var total atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range cs {
		// The stream is pattern[k % period] for k = 0, 1, ...; the buffer
		// holds enough more than one period that any window of a write or
		// a read is contiguous in it.
		pattern := make([]byte, period+readSize+size)
		x := uint32(2463534242 + i)
		for k := 0; k < period; k++ {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			pattern[k] = byte(x)
		}
		for k := period; k < len(pattern); k++ {
			pattern[k] = pattern[k-period]
		}
		wg.Add(2)
		go func(id int, c *net.TCPConn) {
			defer wg.Done()
			<-start
			off := 0
			for !stop.Load() {
				if _, err := c.Write(pattern[off : off+size]); err != nil {
					fail("conn %d: write: %v", id, err)
				}
				off = (off + size) % period
			}
			if err := c.CloseWrite(); err != nil {
				fail("conn %d: shutdown: %v", id, err)
			}
		}(i, c.(*net.TCPConn))
		go func(id int, c net.Conn) {
			defer wg.Done()
			buf := make([]byte, readSize)
			off, n := 0, int64(0)
			for {
				k, err := c.Read(buf)
				if k > 0 {
					if !bytes.Equal(buf[:k], pattern[off:off+k]) {
						fail("conn %d: echoed stream differs after %d bytes", id, n)
					}
					off = (off + k) % period
					n += int64(k)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					fail("conn %d: read: %v", id, err)
				}
			}
			total.Add(n)
		}(i, c)
	}
	elapsed := timedLoad(cs, start, &stop, &wg, d)
	n := total.Load()
	fmt.Printf("# conns %d write size %d\n", conns, size)
	fmt.Printf("# ops %d seconds %.3f\n", n, elapsed.Seconds())
	fmt.Printf("stream: %.1f MB/s\n", float64(n)/elapsed.Seconds()/1e6)
}

// ---- idle --------------------------------------------------------------------

var httpRequest = []byte("GET / HTTP/1.1\r\nHost: loadgen\r\n\r\n")

// httpExchange sends one GET and reads one "200 OK ... Hello, World!"
// reply of known length, leaving the connection open.
func httpExchange(c net.Conn, id int) {
	if _, err := c.Write(httpRequest); err != nil {
		fail("conn %d: write: %v", id, err)
	}
	var got []byte
	buf := make([]byte, 1024)
	for {
		k, err := c.Read(buf)
		got = append(got, buf[:k]...)
		if end := bytes.Index(got, []byte("\r\n\r\n")); end >= 0 && len(got) >= end+4+13 {
			if !bytes.HasPrefix(got, []byte("HTTP/1.1 200 ")) ||
				string(got[end+4:]) != "Hello, World!" {
				fail("conn %d: unexpected reply %q", id, got)
			}
			return
		}
		if err != nil {
			fail("conn %d: read: %v (after %q)", id, err, got)
		}
	}
}

func runIdle(addr string, conns int, proto string) {
	if proto != "echo" && proto != "http" {
		fail("-proto must be echo or http")
	}
	cs := make([]net.Conn, conns)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range cs {
		sem <- struct{}{}
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			defer func() { <-sem }()
			c := dial(addr)
			if proto == "http" {
				httpExchange(c, id)
			} else {
				msg := make([]byte, 64)
				roundTrip(c, msg, make([]byte, 64), uint64(id), 0)
			}
			cs[id] = c
		}(i)
	}
	wg.Wait()
	fmt.Printf("# connected %d in %.3f s\n", conns, time.Since(t0).Seconds())
	fmt.Printf("# ready %d\n", conns)
	os.Stdout.Sync()
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range cs {
		c.Close()
	}
	fmt.Printf("idle: %d conns\n", conns)
}

func main() {
	mode := flag.String("mode", "", "echo, stream or idle")
	addr := flag.String("addr", "", "the server, HOST:PORT")
	conns := flag.Int("conns", 0, "connections (default: 100 echo, 4 stream, 10000 idle)")
	size := flag.Int("size", 0, "bytes per message or write (default: 64 echo, 16384 stream)")
	duration := flag.Duration("duration", 5*time.Second, "how long to load (echo, stream)")
	proto := flag.String("proto", "echo", "idle: the exchange made on each connection, echo or http")
	flag.Parse()
	if *addr == "" || flag.NArg() != 0 {
		fail("usage: loadgen -mode echo|stream|idle -addr HOST:PORT [flags]")
	}
	if strings.HasPrefix(*addr, ":") {
		*addr = "127.0.0.1" + *addr
	}
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	switch *mode {
	case "echo":
		runEcho(*addr, pick(*conns, 100), pick(*size, 64), *duration)
	case "stream":
		runStream(*addr, pick(*conns, 4), pick(*size, 16384), *duration)
	case "idle":
		runIdle(*addr, pick(*conns, 10000), *proto)
	default:
		fail("unknown -mode %q: echo, stream or idle", *mode)
	}
}
