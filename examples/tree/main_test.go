package main

import (
	"bytes"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	require.Equal(t, `first fetch through the json branch, then the yaml branch
  json: map[key:a value:apple]
  yaml: key: a; value: apple
  bucket reads so far: 1
again: both branches hit their own layer
  json: map[key:a value:apple]
  yaml: key: a; value: apple
  bucket reads so far: 1
after the file changed and raw "a" was invalidated: both branches fetch again
  json: map[key:a value:avocado]
  yaml: key: a; value: avocado
  bucket reads so far: 2

the tree:
bucket (source)
└── raw (cache) entries=1/1024 hits=2 misses=2 fills=2 invalidated=1 hit_ratio=50.0%
    ├── parse ([]byte → map[string]any)
    │   └── json (cache) entries=1/512 hits=1 misses=2 fills=2 invalidated=1 hit_ratio=33.3%
    └── parse ([]byte → string)
        └── yaml (cache) entries=1/512 hits=1 misses=2 fills=2 invalidated=1 hit_ratio=33.3%
`, out.String())
}
