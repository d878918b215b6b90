package disk_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

func TestMain(m *testing.M) {
	if helper := os.Getenv(helperEnv); helper != "" {
		os.Exit(helperMain(helper))
	}
	testkit.VerifyNoLeaks(m)
}

// mustOpen opens a store in dir and closes it when the test ends.
func mustOpen(t testing.TB, dir string, maxBytes int64, opts *disk.Options) *disk.Store {
	t.Helper()
	s, err := disk.Open(dir, maxBytes, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// events records what a store reports.
type events struct {
	mu   sync.Mutex
	list []pipeline.StoreEvent[string]
}

// record makes s report to a new events.
func record(s *disk.Store) *events {
	ev := &events{}
	s.Notify(func(e pipeline.StoreEvent[string]) {
		ev.mu.Lock()
		ev.list = append(ev.list, e)
		ev.mu.Unlock()
	})
	return ev
}

func (ev *events) all() []pipeline.StoreEvent[string] {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]pipeline.StoreEvent[string](nil), ev.list...)
}

// evicted returns the keys of the Evicted events, in order.
func (ev *events) evicted() []string {
	var keys []string
	for _, e := range ev.all() {
		if e.Kind == pipeline.Evicted {
			keys = append(keys, e.Key)
		}
	}
	return keys
}

// files returns the paths, relative to dir, of the regular files under dir
// other than the lock and the index files, with their sizes.
func files(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "lock" || rel == "index" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = info.Size()
		return nil
	})
	require.NoError(t, err)
	return out
}

// entryFiles returns the entries' files under dir: files without the
// temporary ones.
func entryFiles(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	out := files(t, dir)
	for p := range tempFiles(t, dir) {
		delete(out, p)
	}
	return out
}

// tempFiles returns the temporary files under dir, those of the writes
// under way.
func tempFiles(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	out := files(t, dir)
	for p := range out {
		if !strings.HasPrefix(filepath.Base(p), ".tmp-") {
			delete(out, p)
		}
	}
	return out
}

// totalSize returns the sum of the sizes in m.
func totalSize(m map[string]int64) int64 {
	var n int64
	for _, size := range m {
		n += size
	}
	return n
}

// onlyFile returns the path of the one entry file under dir.
func onlyFile(t testing.TB, dir string) string {
	t.Helper()
	f := entryFiles(t, dir)
	require.Len(t, f, 1)
	for p := range f {
		return filepath.Join(dir, p)
	}
	return ""
}

// fileSize is the size of the file of an entry: a 32-byte header, the key
// and the value.
func fileSize(key string, valueLen int) int64 { return int64(32 + len(key) + valueLen) }

// helperEnv names the variable that makes the test binary a helper
// process: "open DIR" opens the store in DIR, prints "opened" or "locked",
// and, if it opened, holds the store until its stdin closes.
const helperEnv = "DISK_TEST_HELPER"

// helperMain is main of a helper process, which returns its exit code.
func helperMain(cmd string) int {
	dir, ok := strings.CutPrefix(cmd, "open ")
	if !ok {
		fmt.Println("bad helper command", cmd)
		return 2
	}
	s, err := disk.Open(dir, 1<<20, nil)
	switch {
	case errors.Is(err, disk.ErrLocked):
		fmt.Println("locked")
		return 0
	case err != nil:
		fmt.Println(err)
		return 1
	}
	fmt.Println("opened")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // hold the store until told
	if err := s.Close(); err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

// helper is a helper process holding, or failing to hold, a store.
type helper struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	said  string // "opened" or "locked"
}

// startHelper starts a helper process that opens the store in dir, and
// waits for it to say whether it opened it.
func startHelper(t *testing.T, dir string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=open "+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	h := &helper{cmd: cmd, stdin: stdin, said: strings.TrimSpace(line)}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	return h
}
