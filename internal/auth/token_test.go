package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMintVerify(t *testing.T) {
	v := NewVerifier(map[string]string{DevKey: DevSecret})
	tok, err := Mint(TokenOptions{Key: DevKey, Secret: DevSecret, Identity: "alice",
		Grant: Grant{Room: "r1", Publish: true, Subscribe: true}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity() != "alice" || c.Grant.Namespace != DefaultNamespace || !c.Grant.Publish {
		t.Fatalf("claims = %+v", c)
	}
	if !c.Allows(DefaultNamespace, "r1") || c.Allows(DefaultNamespace, "r2") || c.Allows("other", "r1") {
		t.Fatal("Allows is wrong")
	}
}

func TestVerifyRejects(t *testing.T) {
	v := NewVerifier(map[string]string{DevKey: DevSecret})
	good := func(o TokenOptions) string {
		o.Identity, o.Grant.Room = "bob", "r"
		if o.Key == "" {
			o.Key, o.Secret = DevKey, DevSecret
		}
		tok, err := Mint(o)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired := good(TokenOptions{TTL: time.Minute, Now: time.Now().Add(-time.Hour)})
	forged := good(TokenOptions{Secret: "wrong", Key: DevKey})
	unknown := good(TokenOptions{Key: "nokey", Secret: "x"})
	valid := good(TokenOptions{})
	tampered := valid[:len(valid)-4] + "AAAA"
	cases := map[string]struct {
		tok  string
		want error
	}{
		"empty":    {"", ErrMissingToken},
		"garbage":  {"not.a.jwt", ErrInvalidToken},
		"expired":  {expired, ErrExpired},
		"forged":   {forged, ErrInvalidToken},
		"unknown":  {unknown, ErrInvalidToken},
		"tampered": {tampered, ErrInvalidToken},
		"huge":     {strings.Repeat("a", 10000), ErrInvalidToken},
		"none alg": {"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.", ErrInvalidToken},
	}
	for name, tc := range cases {
		if _, err := v.Verify(tc.tok); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	v := NewVerifier(map[string]string{DevKey: DevSecret})
	tok, _ := Mint(TokenOptions{Key: DevKey, Secret: DevSecret, Identity: "a", Grant: Grant{Room: "r"}})
	f.Add(tok)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := v.Verify(s)
		if err == nil && (c == nil || c.Identity() == "") {
			t.Fatal("accepted a token without identity")
		}
	})
}
