// Command http_server is the Go twin of examples/http_server.c: net/http's
// Server answering every request with "Hello, World!", for the server
// benchmarks.
//
//	http_server 127.0.0.1:8080      (":0" picks a free port)
//
// Prints "listening on <host:port>" once it listens. The reply carries the
// same headers as the C server's (Content-Type text/plain, Content-Length
// 13, and the Date net/http adds). The same limits, from the same
// environment variables: ReadHeaderTimeout HTTP_HEADER_TIMEOUT_MS (default
// 5000), IdleTimeout HTTP_IDLE_TIMEOUT_MS (default 30000), MaxHeaderBytes 8
// KiB (net/http allows 4 KiB of slack above it, then answers 431), bodies
// over 1 MiB declared get 413. SIGINT or SIGTERM: Server.Shutdown, bounded
// by SERVER_GRACE_MS (default 10 s) or a second signal, then Close; exit
// status 0. Run with GOMAXPROCS equal to ringo's workers.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

var hello = []byte("Hello, World!")

func handle(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > 1<<20 {
		w.Header().Set("Connection", "close")
		http.Error(w, "Content Too Large", http.StatusRequestEntityTooLarge)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{"13"}
	w.Write(hello)
}

func msFromEnv(name string, def int64) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return time.Duration(def) * time.Millisecond
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "bad %s '%s': want a positive number of milliseconds\n", name, s)
		os.Exit(2)
	}
	return time.Duration(v) * time.Millisecond
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s HOST:PORT\n", os.Args[0])
		os.Exit(2)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(handle),
		ReadHeaderTimeout: msFromEnv("HTTP_HEADER_TIMEOUT_MS", 5000),
		IdleTimeout:       msFromEnv("HTTP_IDLE_TIMEOUT_MS", 30000),
		MaxHeaderBytes:    8 << 10,
	}
	grace := msFromEnv("SERVER_GRACE_MS", 10000)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "http_server: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintf(os.Stderr, "http_server: %v\n", err)
		os.Exit(1)
	case sig := <-sigs:
		fmt.Fprintf(os.Stderr, "http_server: %v: shutting down\n", sig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	go func() {
		<-sigs
		cancel()
	}()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
	os.Exit(0)
}
