package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	got := regexp.MustCompile(` duration=\S+`).ReplaceAllString(out.String(), "")
	require.Equal(t, `DBG fetch layer=lookup key=a@v1 outcome=fill served_by=source
a@v1 → {Key:a Value:apple}
DBG fetch layer=lookup key=a@v1 outcome=hit served_by=parsed_files
a@v1 → {Key:a Value:apple}
DBG fetch layer=lookup key=a@v2 outcome=hit served_by=raw_files
a@v2 → {Key:a Value:apple}
INF fetch layer=lookup key=c@v1 outcome="not found" served_by=source
c@v1 → not found
`, got)
}
