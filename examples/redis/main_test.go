package main

import (
	"bytes"
	"io"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/redistest"
	"github.com/multilayer-cache/multilayer/internal/testkit"
)

func TestMain(m *testing.M) {
	goredis.SetLogger(quiet{}) // the refused dials of the unreachable server are expected
	testkit.VerifyNoLeaks(m)
}

func TestDemoShowsAnUpdateOnOneInstanceReachingTheOthers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	var out bytes.Buffer
	require.NoError(t, demo(t.Context(), &out, srv.Addr))
	require.Equal(t, `every instance reads alice; the first loads her from the database, into Redis:
  A: Alice (version 1); database reads so far: 1
  B: Alice (version 1); database reads so far: 1
  C: Alice (version 1); database reads so far: 1
alice changes; instance A invalidates her, which tombstones her in Redis and tells the others:
  B applied 1 invalidation from another instance
  C applied 1 invalidation from another instance
every instance reads alice again; Redis keeps her key empty for a few seconds, so each loads her once:
  A: Alice Liddell (version 2); database reads so far: 2
  B: Alice Liddell (version 2); database reads so far: 3
  C: Alice Liddell (version 2); database reads so far: 4
`, out.String())
}

func TestDemoSaysClearlyWhenRedisIsUnreachable(t *testing.T) {
	t.Parallel()
	err := demo(t.Context(), io.Discard, "127.0.0.1:1")
	require.ErrorContains(t, err, "Redis at 127.0.0.1:1 does not answer")
	require.ErrorContains(t, err, "-redis host:port or REDIS_ADDR")
}

func TestAddressComesFromTheFlagThenTheEnvironmentThenTheDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{name: "default", want: "127.0.0.1:6379"},
		{name: "environment", env: "127.0.0.2:7000", want: "127.0.0.2:7000"},
		{name: "flag over environment", args: []string{"-redis", "127.0.0.1:7001"}, env: "127.0.0.2:7000", want: "127.0.0.1:7001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAddr(tt.args, func(k string) string {
				if k == "REDIS_ADDR" {
					return tt.env
				}
				return ""
			}, io.Discard)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	_, err := parseAddr([]string{"extra"}, func(string) string { return "" }, io.Discard)
	require.Error(t, err)
}
