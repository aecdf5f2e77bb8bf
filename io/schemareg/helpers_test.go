package schemareg_test

import "log/slog"

// quiet drops logs (registry retries the tests provoke).
var quiet = slog.New(slog.DiscardHandler)
