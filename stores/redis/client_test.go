package redis_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestClientOptionsMakeTheSettingsOfUniversalOptions(t *testing.T) {
	t.Parallel()
	want := &goredis.Options{
		Addr:                  "db:6379",
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           500 * time.Millisecond,
		DialerRetries:         1,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		PoolTimeout:           time.Second,
	}
	require.Equal(t, want, redis.ClientOptions("db:6379"))
	u := redis.UniversalOptions("db:6379")
	require.Equal(t, []string{"db:6379"}, u.Addrs)
	require.True(t, u.ContextTimeoutEnabled)
	require.Equal(t, -1, u.MaxRetries)
	require.Equal(t, 1, u.DialerRetries)
	require.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, time.Second, time.Second},
		[]time.Duration{u.DialTimeout, u.ReadTimeout, u.WriteTimeout, u.PoolTimeout})
}
