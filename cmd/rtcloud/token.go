package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
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
	key := fs.String("key", envOr("RTCLOUD_API_KEY", auth.DevKey), "API key (env RTCLOUD_API_KEY)")
	secret := fs.String("secret", envOr("RTCLOUD_API_SECRET", auth.DevSecret), "API secret (env RTCLOUD_API_SECRET)")
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
	tok, err := auth.Mint(auth.TokenOptions{
		Key: *key, Secret: *secret, Identity: *identity, Name: *name, TTL: *ttl,
		Grant: auth.Grant{Namespace: *namespace, Room: *room, Publish: *publish, Subscribe: *subscribe, Admin: *admin},
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
