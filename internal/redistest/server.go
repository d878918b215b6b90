package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hint is the message of a test skipped because redis-server is not on the
// PATH.
const Hint = "redis-server not found: apt-get install redis-server"

// reservedPort is the port of the machine's own Redis, which tests never
// use, stop or stall.
const reservedPort = 6379

// startTimeout bounds how long a server may take to answer after it was
// started.
const startTimeout = 10 * time.Second

// Options configures a server. The zero value starts a plain single node.
type Options struct {
	// Cluster starts the server in cluster mode as a one-node cluster that
	// serves all 16384 hash slots, so that a cluster client can talk to it
	// and the server rejects commands whose keys cross hash slots
	// (CROSSSLOT), as a real cluster does. Default: a plain server.
	Cluster bool
	// Args are extra redis-server arguments, appended to the package's own,
	// such as []string{"--maxmemory", "10mb"}. Default: none.
	Args []string
}

// A Server is a redis-server process started by [Start] for one test. Its
// methods that take a testing.TB fail that test on error and must be called
// from the goroutine running it; Addr and Do may be used from any
// goroutine.
type Server struct {
	// Addr is the server's address, "127.0.0.1:port". It stays the same
	// across Restart.
	Addr string

	port        int
	busPort     int    // the cluster bus's port, in cluster mode
	sentinelFor string // the master's address, for a Sentinel
	dir         string
	opts        Options
	log         *os.File

	mu     sync.Mutex
	proc   *process // nil while the server is stopped
	stalls sync.WaitGroup
}

// process is one run of redis-server.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned
}

// MasterName is the name under which a Sentinel started by StartSentinel
// monitors its master, for redis.FailoverOptions.MasterName.
const MasterName = "redistest"

// Start starts a redis-server on a free loopback port and waits until it
// answers. The server is killed when t and its subtests end. opts may be
// nil.
//
// If redis-server is not on the PATH, Start skips t with [Hint], or fails it
// if the environment variable CI is set.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	s := &Server{}
	if opts != nil {
		s.opts = *opts
		s.opts.Args = append([]string(nil), opts.Args...)
	}
	return launch(t, s)
}

// StartSentinel starts a Sentinel (redis-server --sentinel) on a free
// loopback port that monitors master under [MasterName], with a quorum of
// one, and waits until it answers; it is killed when t ends. A failover
// client given its Addr and MasterName finds master through it. It skips
// or fails t as Start does.
func StartSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	return launch(t, &Server{sentinelFor: master.Addr})
}

// launch starts s on a free port, for t.
func launch(t testing.TB, s *Server) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(Hint + " (CI is set, so the integration tests must run)")
		}
		t.Skip(Hint)
	}
	s.dir = t.TempDir()
	log, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s.log = log
	t.Cleanup(s.cleanup)

	// A port found free may be taken before the server binds it: try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s.port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if s.opts.Cluster {
			// The bus defaults to port+10000, which may be out of range or
			// taken: give it a free port of its own.
			if s.busPort, err = freePort(); err != nil {
				t.Fatal(err)
			}
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: start redis-server: %v\n%s", lastErr, s.logTail())
	return nil
}

// freePort returns a loopback port that was free a moment ago, never the
// reserved one.
func freePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != reservedPort {
			return port, nil
		}
	}
}

// args returns the command line of the server.
func (s *Server) args() ([]string, error) {
	if s.sentinelFor != "" {
		return s.sentinelArgs()
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--enable-debug-command", "local",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	if s.opts.Cluster {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(s.busPort),
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-announce-ip", "127.0.0.1")
	}
	return append(args, s.opts.Args...), nil
}

// sentinelArgs writes the configuration of a Sentinel afresh (the Sentinel
// rewrites it as it runs), and returns its command line.
func (s *Server) sentinelArgs() ([]string, error) {
	conf := filepath.Join(s.dir, "sentinel.conf")
	host, port, err := net.SplitHostPort(s.sentinelFor)
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\n",
		s.port, s.dir, MasterName, host, port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return append([]string{conf, "--sentinel"}, s.opts.Args...), nil
}

// start starts the process on s.port and waits until it answers.
func (s *Server) start() error {
	args, err := s.args()
	if err != nil {
		return err
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // a killed server exits with an error: expected
		close(p.exited)
	}()
	if err := s.waitReady(p); err != nil {
		_ = cmd.Process.Kill()
		<-p.exited
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// waitReady waits until the server answers PING (and, in cluster mode,
// serves every slot), or exits, or startTimeout passes.
func (s *Server) waitReady(p *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.exited:
			return errors.New("redistest: redis-server exited")
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("redistest: redis-server did not answer in time")
		}
		if ok, err := s.ready(); err != nil {
			return err
		} else if ok {
			return nil
		}
		time.Sleep(10 * time.Millisecond) // polling a process we started: nothing to wait on
	}
}

// ready reports whether the server answers, and in cluster mode serves all
// slots, which it assigns to itself on its first run.
func (s *Server) ready() (bool, error) {
	if _, err := s.Do("PING"); err != nil {
		return false, nil // not listening yet
	}
	if !s.opts.Cluster {
		return true, nil
	}
	info, err := s.Do("CLUSTER", "INFO")
	if err != nil {
		return false, nil
	}
	if strings.Contains(info, "cluster_state:ok") {
		return true, nil
	}
	if strings.Contains(info, "cluster_slots_assigned:0") {
		if _, err := s.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
			return false, fmt.Errorf("redistest: assign slots: %w", err)
		}
	}
	return false, nil
}

// Do runs one command on a new connection and returns its reply as text:
// a simple or bulk string, or an integer in decimal; "" for a nil reply. An
// error reply is a [ReplyError]. It gives up after 5 seconds.
func (s *Server) Do(args ...string) (string, error) {
	return do(s.Addr, 5*time.Second, args...)
}

// running returns the running process, failing t if there is none.
func (s *Server) running(t testing.TB, what string) *process {
	t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		t.Fatalf("redistest: %s: the server is not running", what)
	}
	return p
}

// Kill kills the server at once (SIGKILL), as a crash would, and waits
// until it is gone. Every connection to it breaks.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	p := s.running(t, "Kill")
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("redistest: kill: %v", err)
	}
	<-p.exited
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
}

// Shutdown stops the server with SHUTDOWN NOSAVE, as an operator would, and
// waits until it is gone.
func (s *Server) Shutdown(t testing.TB) {
	t.Helper()
	p := s.running(t, "Shutdown")
	if _, err := s.Do("SHUTDOWN", "NOSAVE"); err == nil {
		t.Fatal("redistest: SHUTDOWN NOSAVE answered; the server should have closed the connection")
	}
	select {
	case <-p.exited:
	case <-time.After(startTimeout):
		t.Fatalf("redistest: the server did not exit after SHUTDOWN NOSAVE\n%s", s.logTail())
	}
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
}

// Restart starts a stopped server again on the same port and waits until it
// answers. It holds no data: the server persists nothing.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		t.Fatal("redistest: Restart: the server is running; Kill or Shutdown it first")
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restart on %s: %v\n%s", s.Addr, err, s.logTail())
	}
}

// Stall makes the server stop answering for d (DEBUG SLEEP), as a server
// stuck in a slow command or a long fork would. It returns once the server
// is seen not to answer, and the returned channel is closed when it answers
// again. A PING unanswered for a quarter of d (at most 250ms) tells that
// the server sleeps, so d should be well over 100ms and at most that
// quarter of it is over when Stall returns.
func (s *Server) Stall(t testing.TB, d time.Duration) <-chan struct{} {
	t.Helper()
	s.running(t, "Stall")
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("redistest: stall: %v", err)
	}
	secs := strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
	if err := writeCommand(conn, "DEBUG", "SLEEP", secs); err != nil {
		conn.Close()
		t.Fatalf("redistest: stall: %v", err)
	}
	done := make(chan struct{})
	s.stalls.Add(1)
	go func() {
		defer s.stalls.Done()
		defer close(done)
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(d + startTimeout))
		_, _ = readReply(bufio.NewReader(conn)) // +OK once the sleep is over
	}()
	// A PING that goes unanswered for a quarter of the stall (at most
	// 250ms) means the server sleeps: a busy machine delays an answer by
	// less than that, and the rest of the stall is left to the test.
	probe := min(max(d/4, 20*time.Millisecond), 250*time.Millisecond)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if _, err := do(s.Addr, probe, "PING"); err != nil {
			return done
		}
		select {
		case <-done:
			t.Fatal("redistest: stall: the server never stopped answering; is d too short?")
		default:
		}
	}
	t.Fatal("redistest: stall: the server kept answering PING")
	return nil
}

// cleanup kills the server, once any stall is over.
func (s *Server) cleanup() {
	s.stalls.Wait()
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	s.log.Close()
}

// logTail returns the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "redis-server log:\n" + string(b)
}
