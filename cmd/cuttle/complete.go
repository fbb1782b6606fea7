package main

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
)

// addCompletions teaches cobra's `cuttle completion bash|zsh|fish|powershell`
// scripts cuttle's names: --worker and `workers check` offer the config's
// workers and ssh_config's aliases, --pool the pools, --feed the feeds,
// and `runbook run` the YAML files.
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for flag, names := range map[string]func(*cobra.Command) []string{
			"worker": completeWorkers, "pool": completePools, "feed": completeFeeds,
		} {
			if c.Flags().Lookup(flag) != nil {
				_ = c.RegisterFlagCompletionFunc(flag, fixed(names))
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, c := range root.Commands() {
		for _, sub := range c.Commands() {
			switch sub.CommandPath() {
			case "cuttle workers check":
				sub.ValidArgsFunction = fixed(completeWorkers)
			case "cuttle runbook run":
				sub.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
					return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
				}
			}
		}
	}
}

func fixed(names func(*cobra.Command) []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return names(c), cobra.ShellCompDirectiveNoFileComp
	}
}

// completionConfig reads the config the command would read, or nothing.
func completionConfig(c *cobra.Command) *config.Config {
	path := ""
	if f := c.Flag("config"); f != nil {
		path = f.Value.String()
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil
	}
	return cfg
}

func completeWorkers(c *cobra.Command) []string {
	sc := ""
	if f := c.Flag("ssh-config"); f != nil {
		sc = f.Value.String()
	}
	workers, _ := fleet.Candidates(completionConfig(c), sc)
	return workers
}

func completePools(c *cobra.Command) []string {
	_, pools := fleet.Candidates(completionConfig(c), "none")
	return pools
}

func completeFeeds(c *cobra.Command) []string {
	var feeds []string
	if cfg := completionConfig(c); cfg != nil {
		for name := range cfg.Feeds {
			feeds = append(feeds, name)
		}
	}
	slices.Sort(feeds)
	return feeds
}
