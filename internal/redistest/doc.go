// Package redistest starts throwaway redis-server processes for tests, in
// the spirit of net/http/httptest: a test calls [Start] and gets a server of
// its own on a free loopback port, which it may kill, stall, shut down and
// restart to see how the code under test behaves when Redis is in trouble.
//
// # Use
//
//	srv := redistest.Start(t, nil)
//	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
//	t.Cleanup(func() { client.Close() })
//	...
//	srv.Kill(t)                 // a crash; or srv.Shutdown(t): SHUTDOWN NOSAVE
//	srv.Restart(t)              // the same port, no data
//	<-srv.Stall(t, time.Second) // DEBUG SLEEP 1; the channel closes when it ends
//
// # The server
//
// Each server runs with no persistence (--save "" --appendonly no), with the
// DEBUG command enabled for local connections (so that [Server.Stall] can
// run DEBUG SLEEP), in a temporary directory of the test's, and its log goes
// to a file there that is shown when the server does not come up. It is
// killed when the test and its subtests end (t.Cleanup). It never uses port
// 6379, where this machine's own Redis may run. [Options].Cluster makes it a
// one-node cluster, and [StartSentinel] starts a Sentinel that monitors a
// server, so that cluster and failover clients can be tested too.
//
// # When redis-server is missing
//
// Start looks for redis-server on the PATH. If it is not there, the test is
// skipped with a one-line hint; but if the environment variable CI is set,
// the test fails instead, because under CI the integration tests must run.
//
// # Talking to the server
//
// The package speaks just enough of the Redis protocol to run its own
// commands ([Server.Do]); tests use a real client on [Server.Addr] for
// everything else. It depends on nothing outside the standard library.
package redistest
