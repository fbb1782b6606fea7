package config

import (
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Flags reads command-line flags, falling back to CUTTLE_<FLAG> in the
// environment (dashes become underscores: --known-hosts reads
// CUTTLE_KNOWN_HOSTS). A flag given on the command line wins.
type Flags struct{ v *viper.Viper }

// BindFlags binds every flag of fs.
func BindFlags(fs *pflag.FlagSet) (*Flags, error) {
	v := viper.New()
	v.SetEnvPrefix("CUTTLE")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return nil, err
	}
	return &Flags{v: v}, nil
}

// String returns a string flag.
func (f *Flags) String(name string) string { return f.v.GetString(name) }

// Strings returns a repeatable flag.
func (f *Flags) Strings(name string) []string { return f.v.GetStringSlice(name) }

// Bool returns a boolean flag.
func (f *Flags) Bool(name string) bool { return f.v.GetBool(name) }

// Int returns an integer flag.
func (f *Flags) Int(name string) int { return f.v.GetInt(name) }
