package redis

import (
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The settings ClientOptions and UniversalOptions make. Each is a backstop
// for calls made without a deadline; the Store's own calls end at
// Options.Timeout.
const (
	clientDialTimeout = 500 * time.Millisecond
	clientIOTimeout   = time.Second
	clientPoolTimeout = time.Second
)

// ClientOptions returns options for redis.NewClient that suit a Store: a
// client that talks to the single server at addr, honours context deadlines
// (ContextTimeoutEnabled), retries nothing (MaxRetries -1: a failed read is
// a miss, and a retry of a timed-out read is what held one GET for 19
// seconds), dials once per attempt (DialerRetries 1) within 500ms, and
// gives up on a read, a write or a wait for a pooled connection after one
// second when the caller set no deadline. Change any field before passing
// it to redis.NewClient; each call returns new options.
//
// go-redis's defaults ignore context deadlines and retry timeouts, so that a
// stalled server can hold a read for many seconds: New rejects such a
// client.
func ClientOptions(addr string) *goredis.Options {
	return UniversalOptions(addr).Simple()
}

// UniversalOptions returns options for redis.NewUniversalClient with the
// settings of ClientOptions, for the servers at addrs: a single server, a
// Cluster (several addresses, or IsClusterMode), or, once the caller sets
// MasterName, the Sentinels of a failover group. Change any field before
// passing it to redis.NewUniversalClient; each call returns new options.
func UniversalOptions(addrs ...string) *goredis.UniversalOptions {
	return &goredis.UniversalOptions{
		Addrs:                 append([]string(nil), addrs...),
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           clientDialTimeout,
		DialerRetries:         1,
		ReadTimeout:           clientIOTimeout,
		WriteTimeout:          clientIOTimeout,
		PoolTimeout:           clientPoolTimeout,
	}
}
