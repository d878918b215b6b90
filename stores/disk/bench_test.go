package disk_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

// The benchmarks compare the store with what it is built on, in the same
// run and on the same file system: a Get with os.ReadFile of a file of the
// same size, a Set with a plain write of a temporary file and its rename.
// Values are 4 KiB; the keys cycle over benchKeys. The files go to the
// test's temporary directory, or under $DISK_BENCH_DIR if it is set (say
// /dev/shm, to see the store's own costs without the disk's).
const (
	benchValue = 4 << 10
	benchKeys  = 1000
)

var benchNames = func() (s [benchKeys]string) {
	for i := range s {
		s[i] = "blob-" + strconv.Itoa(i)
	}
	return s
}()

// benchDir returns a new directory for a benchmark's files, removed when
// it ends.
func benchDir(b *testing.B) string {
	root := os.Getenv("DISK_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "disk-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// plainDir is a directory of benchKeys files of 4 KiB, the baseline's.
func plainDir(b *testing.B) string {
	dir := benchDir(b)
	for i := range benchKeys {
		if err := os.WriteFile(filepath.Join(dir, benchNames[i]), make([]byte, benchValue), 0o666); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// fullStore returns a store holding every bench key, with a budget of
// budgetKeys entries of 4 KiB.
func fullStore(b *testing.B, budgetKeys int) *disk.Store {
	s := mustOpen(b, benchDir(b), int64(budgetKeys)*fileSize(benchNames[benchKeys-1], benchValue), nil)
	for i := range min(benchKeys, budgetKeys) {
		if err := s.Set(b.Context(), benchNames[i], make([]byte, benchValue)); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// readFile is the baseline of a Get.
func readFile(b *testing.B, dir string) func(n int) {
	return func(n int) {
		for i := range n {
			if _, err := os.ReadFile(filepath.Join(dir, benchNames[i%benchKeys])); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func get(b *testing.B, s *disk.Store) func(n int) {
	return func(n int) {
		for i := range n {
			if _, ok, err := s.Get(b.Context(), benchNames[i%benchKeys]); !ok || err != nil {
				b.Fatal("miss", err)
			}
		}
	}
}

// writeRename is the baseline of a Set: it writes size bytes.
func writeRename(b *testing.B, dir string, size int) func(n int) {
	value := make([]byte, size)
	return func(n int) {
		for i := range n {
			f, err := os.CreateTemp(dir, "tmp-")
			if err != nil {
				b.Fatal(err)
			}
			_, err = f.Write(value)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(f.Name(), filepath.Join(dir, benchNames[i%benchKeys]))
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// set writes the bench keys in turn; with fresh, keys never written before,
// so that a full store evicts on every Set.
func set(b *testing.B, s *disk.Store, fresh bool) func(n int) {
	value := make([]byte, benchValue)
	next := 0
	return func(n int) {
		for range n {
			key := benchNames[next%benchKeys]
			if fresh {
				key = fmt.Sprintf("fresh-%09d", next) // same length as a bench key's file, about
			}
			next++
			if err := s.Set(b.Context(), key, value); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// loop runs f once per iteration of b.Loop.
func loop(b *testing.B, f func(n int)) {
	b.ReportAllocs()
	b.SetBytes(benchValue)
	for b.Loop() {
		f(1)
	}
}

func BenchmarkGet(b *testing.B) {
	b.Run("impl=os.ReadFile", func(b *testing.B) { loop(b, readFile(b, plainDir(b))) })
	b.Run("impl=disk", func(b *testing.B) { loop(b, get(b, fullStore(b, 2*benchKeys))) })
}

func BenchmarkSet(b *testing.B) {
	b.Run("impl=write-rename", func(b *testing.B) { loop(b, writeRename(b, plainDir(b), benchValue)) })
	b.Run("impl=disk", func(b *testing.B) { loop(b, set(b, fullStore(b, 2*benchKeys), false)) })
	b.Run("impl=disk-full", func(b *testing.B) { loop(b, set(b, fullStore(b, benchKeys), true)) })
}

// BenchmarkPaired times the store and its baseline in alternating slices
// (see internal/paired) and reports the ratios as x-<impl>.
func BenchmarkPaired(b *testing.B) {
	b.Run("Get", func(b *testing.B) {
		paired.Run(b, 256,
			paired.Impl{Name: "os.ReadFile", Run: readFile(b, plainDir(b))},
			paired.Impl{Name: "disk", Run: get(b, fullStore(b, 2*benchKeys))})
	})
	b.Run("Set", func(b *testing.B) {
		paired.Run(b, 64,
			paired.Impl{Name: "write-rename", Run: writeRename(b, plainDir(b), benchValue)},
			paired.Impl{Name: "disk", Run: set(b, fullStore(b, 2*benchKeys), false)},
			paired.Impl{Name: "write-rename-file-size", Run: writeRename(b, plainDir(b), int(fileSize(benchNames[0], benchValue)))},
			paired.Impl{Name: "disk-full", Run: set(b, fullStore(b, benchKeys), true)})
	})
}

// BenchmarkOpen reopens a directory of 10,000 entries, its files in the
// page cache, and times Open alone: after a Close (index=file: the index
// file and the listing of 256 subdirectories) and after a crash
// (index=stat: the listing and a stat per file).
func BenchmarkOpen(b *testing.B) {
	for _, index := range []string{"file", "stat"} {
		b.Run("index="+index, func(b *testing.B) {
			dir := benchDir(b)
			s := mustOpen(b, dir, 1<<30, nil)
			fill(b, s, 10_000, 100)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if index == "stat" {
					b.StopTimer()
					if err := os.Remove(filepath.Join(dir, "index")); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				s, err := disk.Open(dir, 1<<30, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if s.Len() != 10_000 {
					b.Fatal("entries lost:", s.Len())
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
