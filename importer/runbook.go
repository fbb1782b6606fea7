package importer

// Runbook is the cuttle runbook an import writes. Its YAML names are the
// runbook loader's (config.Runbook), or, for what the loader does not
// read yet (packages, parameters, retries), the names issues 17 and 18
// fix; the report lists those a runbook uses (Unsupported).
type Runbook struct {
	Name string `yaml:"name"`
	// Environments is the runbook's environment filter.
	Environments []string          `yaml:"environments,omitempty"`
	Variables    map[string]string `yaml:"variables,omitempty"`
	// EnvironmentVariables are values scoped to one environment.
	EnvironmentVariables map[string]map[string]string `yaml:"environment_variables,omitempty"`
	SensitiveVariables   map[string]string            `yaml:"sensitive_variables,omitempty"`
	Steps                []RunbookStep                `yaml:"steps"`
}

// RunbookStep is one step of the written runbook.
type RunbookStep struct {
	Name string `yaml:"name"`
	Pool string `yaml:"pool"`
	// ParallelWith "previous" starts the step with the one before it.
	ParallelWith string `yaml:"parallel_with,omitempty"`
	// Environments and ExcludedEnvironments filter the step.
	Environments         []string          `yaml:"environments,omitempty"`
	ExcludedEnvironments []string          `yaml:"excluded_environments,omitempty"`
	Condition            string            `yaml:"condition,omitempty"`
	Timeout              string            `yaml:"timeout,omitempty"`
	Retries              int               `yaml:"retries,omitempty"`
	RetryDelay           string            `yaml:"retry_delay,omitempty"`
	Container            RunbookContainer  `yaml:"container"`
	Packages             []RunbookPackage  `yaml:"packages,omitempty"`
	SubstituteInFiles    []string          `yaml:"substitute_in_files,omitempty"`
	Parameters           string            `yaml:"parameters,omitempty"`
	Variables            map[string]string `yaml:"variables,omitempty"`
	Script               RunbookScript     `yaml:"script"`
}

// RunbookContainer is a step's image and its feed.
type RunbookContainer struct {
	Image string `yaml:"image"`
	Feed  string `yaml:"feed,omitempty"`
}

// RunbookScript is inline text, or a file inside a package.
type RunbookScript struct {
	Syntax  string `yaml:"syntax,omitempty"`
	Package string `yaml:"package,omitempty"`
	File    string `yaml:"file,omitempty"`
	Inline  string `yaml:"inline,omitempty"`
}

// RunbookPackage is a step's package, with issue 17's names (needs loader
// support).
type RunbookPackage struct {
	Name        string `yaml:"name"`
	Source      string `yaml:"source,omitempty"`
	ID          string `yaml:"id,omitempty"`
	Version     string `yaml:"version,omitempty"`
	Feed        string `yaml:"feed,omitempty"`
	Extract     *bool  `yaml:"extract,omitempty"`
	Acquisition string `yaml:"acquisition,omitempty"`
}
