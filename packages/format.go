package packages

import "github.com/cuttle-sh/cuttle/wire"

// Format is a package file's archive format and the file name suffix
// that selected it.
type Format struct {
	Archive wire.ArchiveFormat
	suffix  string
}

// Extension is the suffix as written in the file name (".tar.gz").
func (f Format) Extension() string { return f.suffix }

// FormatOf returns the format of a package file name.
func FormatOf(name string) (Format, error) {
	a, suffix, err := wire.ArchiveOf(name)
	if err != nil {
		return Format{}, err
	}
	return Format{Archive: a, suffix: suffix}, nil
}
