// Command yamux_peer is the hashicorp/yamux side of the tunnel interop test (shared/tunnel/interop_test.ts).
//
//	yamux_peer listen      accept one TCP connection on loopback and run a yamux server on it
//	yamux_peer dial PORT   connect to 127.0.0.1:PORT and run a yamux client on it
//
// In both roles it answers commands on streams the other side opens. A command is the first line:
//
//	echo                 echo the rest of the stream, then close
//	ping                 ping the peer, reply "ok <microseconds>"
//	send N               open a stream to the peer, write "sink <sha256>\n" and N pseudo-random bytes,
//	                     close it, reply "<stream id> <sha256>"
//	echoback COUNT SIZE  open COUNT streams to the peer, write "echo\n" and SIZE bytes on each, half-close,
//	                     check the echo, reply "ok"
//	tryopen              try to open a stream, reply "opened" or "refused: <error>"
//	goaway               send GoAway, reply "ok"
//
// Closing its stdin closes the session. It exits 0 once the session is closed and no command failed.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

var (
	failuresMu sync.Mutex
	failures   []string
)

func fail(format string, args ...any) {
	failuresMu.Lock()
	defer failuresMu.Unlock()
	failures = append(failures, fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: yamux_peer listen | dial PORT")
		os.Exit(2)
	}
	conn, err := connect(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "yamux_peer:", err)
		os.Exit(2)
	}
	config := yamux.DefaultConfig()
	config.KeepAliveInterval = 500 * time.Millisecond
	config.LogOutput = os.Stderr // the test shows these lines and fails on [ERR]
	var session *yamux.Session
	if os.Args[1] == "listen" {
		session, err = yamux.Server(conn, config)
	} else {
		session, err = yamux.Client(conn, config)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "yamux_peer:", err)
		os.Exit(2)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = session.Close()
	}()
	go acceptLoop(session)
	<-session.CloseChan()
	fmt.Println("session closed")
	failuresMu.Lock()
	report := strings.Join(failures, "\n")
	failuresMu.Unlock()
	if report != "" {
		fmt.Fprintln(os.Stderr, "FAILURES:\n"+report)
		os.Exit(1)
	}
}

func connect(args []string) (net.Conn, error) {
	switch {
	case args[0] == "listen":
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer listener.Close()
		fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
		return listener.Accept()
	case args[0] == "dial" && len(args) == 2:
		return net.Dial("tcp", "127.0.0.1:"+args[1])
	}
	return nil, fmt.Errorf("bad arguments %q", args)
}

func acceptLoop(session *yamux.Session) {
	for {
		stream, err := session.AcceptStream()
		if err != nil {
			return
		}
		go handle(session, stream)
	}
}

func handle(session *yamux.Session, stream *yamux.Stream) {
	defer stream.Close()
	reader := bufio.NewReader(stream)
	line, err := reader.ReadString('\n')
	if err != nil {
		fail("stream %d: reading the command: %v", stream.StreamID(), err)
		return
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		fail("stream %d: empty command", stream.StreamID())
		return
	}
	switch fields[0] {
	case "echo":
		if _, err := io.Copy(stream, reader); err != nil {
			fail("echo on stream %d: %v", stream.StreamID(), err)
		}
	case "ping":
		rtt, err := session.Ping()
		if err != nil {
			fail("ping: %v", err)
			fmt.Fprintf(stream, "err %v\n", err)
			return
		}
		fmt.Fprintf(stream, "ok %d\n", rtt.Microseconds())
	case "send":
		size, _ := strconv.Atoi(fields[1])
		id, sum, err := send(session, size)
		if err != nil {
			fail("send: %v", err)
			fmt.Fprintf(stream, "err %v\n", err)
			return
		}
		fmt.Fprintf(stream, "%d %s\n", id, sum)
	case "echoback":
		count, _ := strconv.Atoi(fields[1])
		size, _ := strconv.Atoi(fields[2])
		if err := echoBack(session, count, size); err != nil {
			fail("echoback: %v", err)
			fmt.Fprintf(stream, "err %v\n", err)
			return
		}
		fmt.Fprintln(stream, "ok")
	case "tryopen":
		opened, err := session.OpenStream()
		if err != nil {
			fmt.Fprintf(stream, "refused: %v\n", err)
			return
		}
		opened.Close()
		fmt.Fprintln(stream, "opened")
	case "goaway":
		if err := session.GoAway(); err != nil {
			fail("goaway: %v", err)
		}
		fmt.Fprintln(stream, "ok")
	default:
		fail("stream %d: unknown command %q", stream.StreamID(), line)
	}
}

func pattern(size int, seed uint64) []byte {
	data := make([]byte, size)
	source := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range data {
		data[i] = byte(source.Uint32())
	}
	return data
}

func send(session *yamux.Session, size int) (uint32, string, error) {
	stream, err := session.OpenStream()
	if err != nil {
		return 0, "", err
	}
	defer stream.Close()
	data := pattern(size, uint64(size))
	digest := sha256.Sum256(data)
	sum := hex.EncodeToString(digest[:])
	if _, err := fmt.Fprintf(stream, "sink %s\n", sum); err != nil {
		return 0, "", err
	}
	if _, err := stream.Write(data); err != nil {
		return 0, "", err
	}
	return stream.StreamID(), sum, nil
}

func echoBack(session *yamux.Session, count, size int) error {
	errs := make(chan error, count)
	for i := range count {
		go func() {
			errs <- echoOnce(session, size, uint64(i+1))
		}()
	}
	var all []error
	for range count {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func echoOnce(session *yamux.Session, size int, seed uint64) error {
	stream, err := session.OpenStream()
	if err != nil {
		return err
	}
	data := pattern(size, seed)
	received := make(chan []byte, 1)
	go func() {
		echoed, _ := io.ReadAll(stream)
		received <- echoed
	}()
	if _, err := stream.Write([]byte("echo\n")); err != nil {
		return err
	}
	if _, err := stream.Write(data); err != nil {
		return err
	}
	stream.Close() // half-close: reads continue until the peer's FIN
	echoed := <-received
	if !bytes.Equal(echoed, data) {
		return fmt.Errorf("stream %d: echoed %d bytes, sent %d (or content differs)", stream.StreamID(), len(echoed), len(data))
	}
	return nil
}
