//go:build !linux

package media

import "os"

// renameNoReplace is a plain rename after the caller's check (see
// WriteWith for the race this leaves).
func renameNoReplace(old, new string) error { return os.Rename(old, new) }

func dropCache(*os.File) {}

func full(string) bool { return false }
