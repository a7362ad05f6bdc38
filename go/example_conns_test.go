package gracefd_test

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/gracefd/gracefd/go"
)

// Zero-drain upgrades with net/http: one option. The new generation serves
// the connections the old one passes with the same http.Server.
func ExampleServeOptions_passConnections() {
	opts := &gracefd.ServeOptions{PassConnections: true, DrainTimeout: 10 * time.Second}
	fmt.Println(opts.PassConnections)
	// Output: true
}

// A new generation takes connections: EnableConns before Ready, then
// NextConn on each EventConns. Started by hand (no upgrade), nothing comes.
func ExampleEnableConns() {
	fmt.Println("started by an upgrade:", gracefd.EnableConns())
	_, err := gracefd.NextConn()
	fmt.Println("waiting:", gracefd.PendingConns(), errors.Is(err, syscall.EAGAIN))
	// Output:
	// started by an upgrade: false
	// waiting: 0 true
}

// On EventConns, take every connection that waits (here: none).
func ExampleNextConn() {
	for {
		pc, err := gracefd.NextConn()
		if err != nil { // EAGAIN: none left
			break
		}
		c, err := net.FileConn(pc.File) // a net.Conn of its own fd
		pc.File.Close()
		if err == nil {
			_ = pc.State // the bytes to read first (the old side had read them)
			c.Close()
		}
	}
	fmt.Println("done")
	// Output: done
}

// The old side, once an upgrade finished: pass idle connections. Without a
// new generation that takes them, nothing is passed and they stay ours.
func ExamplePassConns() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	client, _ := net.Dial("tcp", ln.Addr().String())
	defer client.Close()
	conn, _ := ln.Accept()
	defer conn.Close()
	if _, err := gracefd.CanPassConns(); err != nil {
		fmt.Println("nobody takes connections:", errors.Is(err, syscall.ENOTCONN))
	}
	n, err := gracefd.PassConns([]gracefd.ConnToPass{{Conn: conn.(*net.TCPConn), Tag: 1}}, 2*time.Second)
	fmt.Println("passed:", n, errors.Is(err, syscall.ENOTCONN))
	gracefd.ReleaseConns()
	// Output:
	// nobody takes connections: true
	// passed: 0 true
}
