package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/config"
)

func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	room := fs.String("room", "", "room the token admits to (required; * with --admin for all rooms)")
	identity := fs.String("identity", "", "participant identity (required)")
	name := fs.String("name", "", "display name")
	namespace := fs.String("namespace", auth.DefaultNamespace, "namespace (tenant)")
	publish := fs.Bool("publish", true, "may publish tracks")
	subscribe := fs.Bool("subscribe", true, "may subscribe to tracks")
	admin := fs.Bool("admin", false, "admin grant")
	ttl := fs.Duration("ttl", 6*time.Hour, "lifetime")
	key := fs.String("key", "", "API key (default: RTCLOUD_API_KEY, else the config's first key, else the public dev key)")
	secret := fs.String("secret", "", "API secret (default: the key's secret from the environment or the config)")
	configPath := fs.String("config", "", "YAML config file whose `keys:` sign the token")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	if *room == "" || *identity == "" {
		fmt.Fprintln(stderr, "rtcloud token: --room and --identity are required")
		fs.Usage()
		return errUsage
	}
	k, sec, err := tokenCredentials(*configPath, *key, *secret)
	if err != nil {
		return err
	}
	tok, err := auth.Mint(auth.TokenOptions{
		Key: k, Secret: sec, Identity: *identity, Name: *name, TTL: *ttl,
		Grant: auth.Grant{Namespace: *namespace, Room: *room, Publish: *publish, Subscribe: *subscribe, Admin: *admin},
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// tokenCredentials picks the key and secret a token is signed with: the
// flags, else the environment (RTCLOUD_API_KEY and RTCLOUD_API_SECRET,
// both or neither), else the config file's keys, else the public dev key,
// which only a development server accepts.
func tokenCredentials(configPath, key, secret string) (string, string, error) {
	c, err := config.Load(configPath)
	if err != nil {
		return "", "", err
	}
	keys := c.Keys
	if len(keys) == 0 {
		keys = config.DevKeys()
	}
	if key == "" {
		key = slices.Min(slices.Collect(maps.Keys(keys)))
	}
	if secret == "" {
		secret = keys[key]
	}
	if secret == "" {
		return "", "", fmt.Errorf("no secret for API key %q: give --secret, or the key in the config or environment", key)
	}
	return key, secret, nil
}
