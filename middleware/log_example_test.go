package middleware_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// ExampleHashKey keeps user emails out of the logs: each record carries a
// keyed hash of the key instead, and the hash of a known key finds its
// records.
func ExampleHashKey() {
	// Drop the time and the duration, so that the output can be checked.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))

	// In a service the secret comes from its secret store: 32 random bytes.
	secret := []byte("example secret, never use it....")
	profiles := pipeline.FetcherFunc[string, string](func(_ context.Context, email string) (string, error) {
		return "profile of " + email, nil
	})
	f := middleware.Log[string, string](logger, "profiles", &middleware.LogOptions[string]{
		Key: middleware.HashKey[string](secret),
	})(pipeline.Cache("profiles", stores.NewMap[string, string](), nil)(profiles))

	ctx := context.Background()
	_, _ = f.Fetch(ctx, "alice@example.com")
	_, _ = f.Fetch(ctx, "alice@example.com")
	_, _ = f.Fetch(ctx, "bob@example.com")

	// Which records are Alice's? Hash her key with the same secret.
	logger.Info("alice", "key", middleware.HashKey[string](secret)("alice@example.com"))
	// Output:
	// level=DEBUG msg=fetch layer=profiles key=5496cfd5e784b6faff86691898b98a43 outcome=fill served_by=source
	// level=DEBUG msg=fetch layer=profiles key=5496cfd5e784b6faff86691898b98a43 outcome=hit served_by=profiles
	// level=DEBUG msg=fetch layer=profiles key=3adf56a66147409ec8a8aadd5ac9abb9 outcome=fill served_by=source
	// level=INFO msg=alice key=5496cfd5e784b6faff86691898b98a43
}

// ExampleDropKey leaves keys out of the records altogether.
func ExampleDropKey() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	f := middleware.Log[string, []byte](logger, "files", &middleware.LogOptions[string]{
		Key: middleware.DropKey[string],
	})(files)

	_, _ = f.Fetch(context.Background(), "a")
	_, _ = f.Fetch(context.Background(), "c")
	// Output:
	// level=DEBUG msg=fetch layer=files outcome=found served_by=source
	// level=INFO msg=fetch layer=files outcome="not found" served_by=source
}
