package wire

// PackHeader introduces one artifact in a pack stream. When Error is empty
// Size bytes of the file follow, then a line "sha256 <hex>".
type PackHeader struct {
	Path  string `json:"path"`           // as requested
	Real  string `json:"real,omitempty"` // resolved, inside the work directory
	Size  int64  `json:"size"`
	Error string `json:"error,omitempty"`
}

// FileMatches is the first line `step-runner files-get` prints: for each
// pattern of substitute_in_files, the files it matched, relative to the
// work directory. A pack stream of every matched file (once each, in
// sorted order) follows; `step-runner files-put` reads the same stream
// back, each file's new content.
type FileMatches struct {
	Patterns []PatternMatch `json:"patterns"`
}

// PatternMatch is one pattern and what it matched.
type PatternMatch struct {
	Pattern string   `json:"pattern"`
	Paths   []string `json:"paths"`
}

// MaxSubstituted bounds the total size of the files substitute_in_files
// reads and writes back: they are templates, held in memory.
const MaxSubstituted = 64 << 20
