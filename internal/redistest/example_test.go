package redistest_test

import (
	"errors"
	"fmt"

	"github.com/multilayer-cache/multilayer/internal/redistest"
)

// A test starts a server of its own and breaks it as it needs:
//
//	func TestReadsSurviveARestart(t *testing.T) {
//		srv := redistest.Start(t, nil) // skipped without redis-server, failed under CI
//		client := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
//		t.Cleanup(func() { client.Close() })
//		...
//		srv.Kill(t)                          // or srv.Shutdown(t): SHUTDOWN NOSAVE
//		...
//		srv.Restart(t)                       // the same port, no data
//		<-srv.Stall(t, time.Second)          // DEBUG SLEEP 1, and wait for its end
//	}
//
// Error replies of Do are ReplyErrors, which carry the server's text.
func ExampleReplyError() {
	var err error = redistest.ReplyError("ERR unknown command 'NOSUCHCOMMAND'")
	var re redistest.ReplyError
	fmt.Println(errors.As(err, &re), err)
	// Output:
	// true redistest: server replied: ERR unknown command 'NOSUCHCOMMAND'
}
