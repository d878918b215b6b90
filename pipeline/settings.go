package pipeline

import (
	"reflect"
	"strconv"
	"time"

	"github.com/multilayer-cache/multilayer/internal/typename"
)

// settings returns the configuration of the cache layer, for its
// Description: its types and store, then its options by the names of the
// fields of CacheOptions, each feature shown on or off, and the settings
// of a feature only while it is on.
func (c *cache[K, V]) settings() []Setting {
	o := &c.opts
	s := []Setting{
		{"key", typename.Of[K]()},
		{"value", typename.Of[V]()},
		{"store", typename.String(reflect.TypeOf(c.store))},
		{"TTL", duration(o.TTL, "none")},
	}
	if o.Jitter > 0 {
		s = append(s, Setting{"Jitter", strconv.FormatFloat(o.Jitter, 'g', -1, 64)})
	}
	s = append(s, Setting{"NegativeTTL", duration(o.NegativeTTL, "off")})
	if o.NegativeTTL > 0 {
		s = append(s, Setting{"NegativeSize", strconv.Itoa(o.NegativeSize)})
	}
	s = append(s, Setting{"StaleIfError", duration(o.StaleIfError, "off")}, Setting{"RefreshAhead", duration(o.RefreshAhead, "off")})
	if o.RefreshAhead > 0 {
		s = append(s, Setting{"RefreshConcurrency", strconv.Itoa(o.RefreshConcurrency)},
			Setting{"RefreshBackoff", o.RefreshBackoff.String()})
	}
	coalesce := "on"
	if o.NoCoalesce {
		coalesce = "off (NoCoalesce)"
	}
	return append(s, Setting{"coalescing", coalesce}, Setting{"FetchTimeout", duration(o.FetchTimeout, "none")})
}

// duration writes d for a setting: zero (such as "off") for zero, "none"
// for a negative bound.
func duration(d time.Duration, zero string) string {
	switch {
	case d == 0:
		return zero
	case d < 0:
		return "none"
	}
	return d.String()
}
