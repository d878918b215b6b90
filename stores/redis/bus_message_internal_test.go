package redis

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBusMessageRoundTripsEachKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  message
		size int
	}{
		{name: "invalidation", msg: message{kind: kindInvalidate, sender: 0x0102030405060708, key: []byte("user/42")}, size: busHeader + 7},
		{name: "invalidation of the empty key", msg: message{kind: kindInvalidate, sender: 1, key: []byte{}}, size: busHeader},
		{name: "clear", msg: message{kind: kindClear, sender: 1<<64 - 1}, size: busHeader},
		{name: "heartbeat", msg: message{kind: kindHeartbeat, sender: 7}, size: busHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := appendMessage(nil, tt.msg)
			require.Len(t, b, tt.size)
			m, err := parseMessage(b)
			require.NoError(t, err)
			require.Equal(t, tt.msg.kind, m.kind)
			require.Equal(t, tt.msg.sender, m.sender)
			require.Equal(t, string(tt.msg.key), string(m.key))
		})
	}
}

func TestBusMessageRejectsWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	good := appendMessage(nil, message{kind: kindClear, sender: 1})
	with := func(i int, c byte) []byte { b := bytes.Clone(good); b[i] = c; return b }
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "short", in: good[:busHeader-1]},
		{name: "text", in: []byte("hello, subscribers")},
		{name: "other magic", in: with(0, 0xB7)},
		{name: "later version", in: with(1, busVersion+1)},
		{name: "unknown kind", in: with(2, 'X')},
		{name: "clear with a tail", in: append(bytes.Clone(good), 'k')},
		{name: "heartbeat with a tail", in: append(appendMessage(nil, message{kind: kindHeartbeat}), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseMessage(tt.in)
			require.ErrorIs(t, err, ErrBadMessage)
		})
	}
}

// FuzzParseBusMessage checks that any bytes decode to a message that
// encodes back to the same bytes, or fail with ErrBadMessage, and never
// panic.
func FuzzParseBusMessage(f *testing.F) {
	f.Add(appendMessage(nil, message{kind: kindInvalidate, sender: 42, key: []byte("k")}))
	f.Add(appendMessage(nil, message{kind: kindClear, sender: 42}))
	f.Add(appendMessage(nil, message{kind: kindHeartbeat, sender: 42}))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadMessage)
			return
		}
		require.Equal(t, b, appendMessage(nil, m))
	})
}
