package ceremony

import (
	"fmt"
	"reflect"
	"strings"
)

// MaxText is the size limit of every string of a script, in bytes: free
// text (notes, reason, purpose, findings, media_destroyed …) is recorded
// in the ledger and shown at the screen and in reports, so a runaway paste
// is refused before anything happens. Labels, ids and dates have their own,
// tighter forms.
const MaxText = 4096

// checkTextSizes walks the decoded script and refuses any string longer
// than MaxText, naming its YAML path (review.findings, roster.add[1].key).
func checkTextSizes(s *Script) error {
	return walkText(reflect.ValueOf(s).Elem(), "", func(path string, n int) error {
		return scriptErr(s.File, path, fmt.Sprintf("%d bytes is more than the %d a script's text may have", n, MaxText),
			"shorten it; a long document belongs in the minutes, with its digest here")
	})
}

func walkText(v reflect.Value, path string, tooLong func(string, int) error) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkText(v.Elem(), path, tooLong)
	case reflect.String:
		if v.Len() > MaxText {
			return tooLong(path, v.Len())
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := walkText(v.Index(i), fmt.Sprintf("%s[%d]", path, i), tooLong); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if err := walkText(iter.Key(), path, tooLong); err != nil {
				return err
			}
			if err := walkText(iter.Value(), join(path, fmt.Sprint(iter.Key().Interface())), tooLong); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if err := walkText(v.Field(i), join(path, name), tooLong); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
