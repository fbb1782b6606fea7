// Package config reads cuttle.yaml with viper and hands out plain,
// validated structs. Nothing else in cuttle imports viper's config reading.
package config
