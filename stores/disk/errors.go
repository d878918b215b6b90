package disk

import "errors"

// ErrLocked is the cause of the error Open returns for a directory that
// another open Store holds, in this process or another one. Test for it with
// errors.Is.
var ErrLocked = errors.New("disk: directory in use by another store")

// ErrCorrupt is the cause of the error a Store reports (see Store.Notify)
// for a file it found truncated, damaged or not its own: the read is a miss
// and the file is removed. Test for it with errors.Is.
var ErrCorrupt = errors.New("disk: corrupt file")

// ErrTooLarge is the cause of the error Set returns for a value whose file
// would be larger than the whole byte budget. Test for it with errors.Is.
var ErrTooLarge = errors.New("disk: entry larger than the budget")

// ErrClosed is the cause of the error a Store returns once it is closed.
// Test for it with errors.Is.
var ErrClosed = errors.New("disk: store closed")
