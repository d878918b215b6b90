package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// firstRun is the example's output, without durations, when the bucket
// serves every raw file.
const firstRun = `DBG fetch layer=lookup key=a@v1 outcome=fill served_by=source
a@v1 → {Key:a Value:apple}
DBG fetch layer=lookup key=a@v1 outcome=hit served_by=parsed_files
a@v1 → {Key:a Value:apple}
DBG fetch layer=lookup key=a@v2 outcome=hit served_by=raw_files
a@v2 → {Key:a Value:apple}
INF fetch layer=lookup key=c@v1 outcome="not found" served_by=source
c@v1 → not found
`

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	require.Equal(t, firstRun, withoutDurations(out.String()))
}

// withoutDurations removes the durations from the example's logs.
func withoutDurations(s string) string {
	return regexp.MustCompile(` duration=\S+`).ReplaceAllString(s, "")
}

func TestRunWithDiskServesTheSecondRunFromDisk(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "raw")
	runs := make([]string, 2)
	for i := range runs {
		var out bytes.Buffer
		require.NoError(t, run(t.Context(), &out, "-disk", dir))
		runs[i] = withoutDurations(out.String())
	}
	require.Equal(t, "raw files on disk: 0 entries, 0 bytes\n"+firstRun, runs[0])
	require.Equal(t, `raw files on disk: 1 entries, 63 bytes
DBG fetch layer=lookup key=a@v1 outcome=hit served_by=raw_files
a@v1 → {Key:a Value:apple}
DBG fetch layer=lookup key=a@v1 outcome=hit served_by=parsed_files
a@v1 → {Key:a Value:apple}
DBG fetch layer=lookup key=a@v2 outcome=hit served_by=raw_files
a@v2 → {Key:a Value:apple}
INF fetch layer=lookup key=c@v1 outcome="not found" served_by=source
c@v1 → not found
`, runs[1], "the second run finds a's raw file on disk: the bucket is not read")
}

func TestRunWithABadDiskDirectoryFails(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o666))
	var out bytes.Buffer
	require.Error(t, run(t.Context(), &out, "-disk", file))
}

func TestRunWithAnUnknownFlagFails(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.Error(t, run(t.Context(), &out, "-nope"))
	require.Contains(t, out.String(), "-disk directory")
}
