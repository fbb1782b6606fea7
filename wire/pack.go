package wire

// PackHeader introduces one artifact in a pack stream. When Error is empty
// Size bytes of the file follow, then a line "sha256 <hex>".
type PackHeader struct {
	Path  string `json:"path"`           // as requested
	Real  string `json:"real,omitempty"` // resolved, inside the work directory
	Size  int64  `json:"size"`
	Error string `json:"error,omitempty"`
}
