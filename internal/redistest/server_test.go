package redistest_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/multilayer-cache/multilayer/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartServesCommandsOnAFreePortThatIsNot6379(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	require.NotEqual(t, "127.0.0.1:6379", srv.Addr)
	_, err := srv.Do("SET", "k", "v")
	require.NoError(t, err)
	v, err := srv.Do("GET", "k")
	require.NoError(t, err)
	require.Equal(t, "v", v)
}

func TestDoReturnsErrorRepliesAsReplyError(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	_, err := srv.Do("NOSUCHCOMMAND")
	var re redistest.ReplyError
	require.ErrorAs(t, err, &re)
	require.Contains(t, string(re), "unknown command")
}

func TestKillStopsTheServerAndRestartBringsItBackEmptyOnTheSamePort(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	addr := srv.Addr
	_, err := srv.Do("SET", "k", "v")
	require.NoError(t, err)

	srv.Kill(t)
	_, err = srv.Do("PING")
	require.Error(t, err)

	srv.Restart(t)
	require.Equal(t, addr, srv.Addr)
	v, err := srv.Do("GET", "k")
	require.NoError(t, err)
	require.Empty(t, v, "the server persists nothing")
}

func TestShutdownStopsTheServerAndRestartBringsItBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	srv.Shutdown(t)
	_, err := srv.Do("PING")
	require.Error(t, err)
	srv.Restart(t)
	pong, err := srv.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", pong)
}

func TestStallReturnsOnceTheServerStopsAnsweringAndSignalsWhenItAnswersAgain(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	done := srv.Stall(t, 300*time.Millisecond)
	select {
	case <-done:
		// The stall may be over already on a slow machine; it did happen,
		// for Stall saw a PING go unanswered.
	default:
	}
	<-done
	pong, err := srv.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", pong)
}

func TestClusterModeServesEverySlotAndRejectsCrossSlotCommands(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, &redistest.Options{Cluster: true})
	info, err := srv.Do("CLUSTER", "INFO")
	require.NoError(t, err)
	require.Contains(t, info, "cluster_state:ok")
	_, err = srv.Do("DEL", "a", "b") // "a" and "b" hash to different slots
	var re redistest.ReplyError
	require.ErrorAs(t, err, &re)
	require.True(t, strings.HasPrefix(string(re), "CROSSSLOT"), "got %q", re)

	srv.Kill(t)
	srv.Restart(t)
	info, err = srv.Do("CLUSTER", "INFO")
	require.NoError(t, err)
	require.Contains(t, info, "cluster_state:ok", "the slots survive a restart")
}

// TestStartWithoutRedisServer runs this test binary again with an empty
// PATH, once without CI and once with it, and checks how Start behaves.
func TestStartWithoutRedisServerSkipsWithAHintOrFailsUnderCI(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") != "" {
		redistest.Start(t, nil)
		t.Fatal("Start returned without redis-server")
	}
	t.Parallel()
	tests := []struct {
		name     string
		ci       string
		wantFail bool
		wantLine string
	}{
		{name: "without CI the test is skipped", ci: "", wantFail: false, wantLine: "--- SKIP"},
		{name: "under CI the test fails", ci: "true", wantFail: true, wantLine: "--- FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestStartWithoutRedisServerSkipsWithAHintOrFailsUnderCI$", "-test.v")
			cmd.Env = []string{"PATH=" + t.TempDir(), "REDISTEST_CHILD=1", "CI=" + tt.ci}
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if tt.wantFail {
				require.True(t, errors.As(err, &exit), "want a failing run, got %v\n%s", err, out)
			} else {
				require.NoError(t, err, "%s", out)
			}
			require.Contains(t, string(out), tt.wantLine)
			require.Contains(t, string(out), redistest.Hint)
		})
	}
}

func TestSentinelAnswersForItsMaster(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t, nil)
	sentinel := redistest.StartSentinel(t, master)
	pong, err := sentinel.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", pong)
	_, err = sentinel.Do("SENTINEL", "CKQUORUM", redistest.MasterName)
	require.NoError(t, err, "the Sentinel monitors the master")
}
