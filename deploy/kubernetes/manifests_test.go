// Package kubernetes holds the Kubernetes manifests; its test checks them
// against the code, so ports, probes, flags and environment variables
// cannot drift from what the binary reads.
package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/config"
	"go.yaml.in/yaml/v3"
)

type object = map[string]any

// docs reads every YAML document of the manifests in this directory, by
// file name.
func docs(t *testing.T) map[string][]object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string][]object{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o != nil {
				out[f] = append(out[f], o)
			}
		}
	}
	return out
}

func get(o any, path ...string) any {
	for _, p := range path {
		m, ok := o.(object)
		if !ok {
			return nil
		}
		o = m[p]
	}
	return o
}

func str(o any, path ...string) string { s, _ := get(o, path...).(string); return s }

func list(o any, path ...string) []any { l, _ := get(o, path...).([]any); return l }

// container is one container of a workload, with the file it is in.
type container struct {
	file, kind, name string
	spec             object
	pod              object // the pod template's spec
}

func containers(all map[string][]object) []container {
	var out []container
	for f, ds := range all {
		for _, d := range ds {
			kind := str(d, "kind")
			if kind != "Deployment" && kind != "DaemonSet" && kind != "StatefulSet" {
				continue
			}
			for _, c := range list(d, "spec", "template", "spec", "containers") {
				pod, _ := get(d, "spec", "template", "spec").(object)
				out = append(out, container{file: f, kind: kind, name: str(c, "name"), spec: c.(object), pod: pod})
			}
		}
	}
	slices.SortFunc(out, func(a, b container) int { return strings.Compare(a.name, b.name) })
	return out
}

// flagValue returns the value of --name in args ("--name v" or "--name=v").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

// containerPort finds the port named name (or numbered name) of c.
func containerPort(c container, name string) (port, hostPort int, protocol string, ok bool) {
	for _, p := range list(c.spec, "ports") {
		n, _ := get(p, "containerPort").(int)
		if str(p, "name") == name || strconv.Itoa(n) == name {
			hp, _ := get(p, "hostPort").(int)
			proto := str(p, "protocol")
			if proto == "" {
				proto = "TCP"
			}
			return n, hp, proto, true
		}
	}
	return 0, 0, "", false
}

func env(c container) map[string]any {
	out := map[string]any{}
	for _, e := range list(c.spec, "env") {
		out[str(e, "name")] = get(e, "value")
		if get(e, "valueFrom") != nil {
			out[str(e, "name")] = get(e, "valueFrom")
		}
	}
	return out
}

// rtcloudConfig loads the ConfigMap's rtcloud.yaml as the binary would.
func rtcloudConfig(t *testing.T, all map[string][]object) config.Config {
	t.Helper()
	for _, d := range all["config.yaml"] {
		if str(d, "kind") != "ConfigMap" {
			continue
		}
		data := str(d, "data", "rtcloud.yaml")
		path := filepath.Join(t.TempDir(), "rtcloud.yaml")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("config.yaml's rtcloud.yaml does not load: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("config.yaml's rtcloud.yaml is invalid: %v", err)
		}
		return c
	}
	t.Fatal("config.yaml has no ConfigMap with rtcloud.yaml")
	return config.Config{}
}

func TestManifestsMatchTheCode(t *testing.T) {
	all := docs(t)
	cfg := rtcloudConfig(t, all)
	known := config.EnvNames()
	bin := buildBinary(t)
	cs := containers(all)
	if len(cs) < 3 {
		t.Fatalf("found %d containers, want sfu, signal and controller", len(cs))
	}
	seen := map[string]bool{}
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			if img := str(c.spec, "image"); !slices.Contains(imageNames(t, all), img) {
				t.Errorf("%s: image %q, want one of %v (the names kustomization.yaml sets)", c.file, img, imageNames(t, all))
			}
			var args []string
			for _, a := range list(c.spec, "args") {
				args = append(args, a.(string))
			}
			if len(args) == 0 {
				t.Fatalf("%s: no args; the first names the component", c.file)
			}
			seen[args[0]] = true
			checkFlags(t, bin, args)
			if v, ok := flagValue(args, "config"); !ok || !mounted(c, v) {
				t.Errorf("%s: --config %q is not on a mounted volume", c.file, v)
			}
			for name := range env(c) {
				if strings.HasPrefix(name, "RTCLOUD_") && !slices.Contains(known, name) {
					t.Errorf("%s: env %s is not read by the config package (it reads %v)", c.file, name, known)
				}
			}
			for _, ef := range list(c.spec, "envFrom") {
				if str(ef, "secretRef", "name") != "rtcloud-keys" {
					t.Errorf("%s: envFrom %v: want the rtcloud-keys secret", c.file, ef)
				}
			}
			for _, k := range []string{"RTCLOUD_API_KEY", "RTCLOUD_API_SECRET", "RTCLOUD_RELAY_SECRET"} {
				if !slices.Contains(known, k) {
					t.Errorf("the rtcloud-keys secret's %s is not read by the config package", k)
				}
			}
			switch args[0] {
			case "sfu":
				wantImage(t, c, "rtcloud")
				checkSFU(t, c, args)
			case "signal":
				v, _ := flagValue(args, "http")
				if v == "" {
					v = cfg.Signal.HTTPAddr
				}
				checkHTTP(t, c, portOf(t, v))
			case "controller":
				v, _ := flagValue(args, "http")
				if v == "" {
					v = cfg.Controller.HTTPAddr
				}
				checkHTTP(t, c, portOf(t, v))
			case "egress":
				wantImage(t, c, "rtcloud-media") // it runs ffmpeg
			case "ingress":
				wantImage(t, c, "rtcloud-media")
				v, _ := flagValue(args, "rtmp")
				if v == "" {
					v = cfg.Ingress.RTMPAddr
				}
				if _, _, _, ok := containerPort(c, strconv.Itoa(portOf(t, v))); !ok {
					t.Errorf("%s: RTMP listens on %s but the container does not expose it", c.file, v)
				}
			case "sip":
				wantImage(t, c, "rtcloud-media")
				v, _ := flagValue(args, "sip")
				if v == "" {
					v = cfg.SIP.Addr
				}
				for _, proto := range []string{"UDP", "TCP"} {
					if !hasPort(c, portOf(t, v), proto) {
						t.Errorf("%s: SIP listens on %s but %s is not a host port", c.file, v, proto)
					}
				}
				if get(c.pod, "hostNetwork") != true {
					t.Errorf("%s: the SIP gateway needs host networking for its RTP ports", c.file)
				}
			default:
				t.Errorf("%s: unknown component %q", c.file, args[0])
			}
		})
	}
	for _, want := range []string{"sfu", "signal", "controller", "egress", "ingress", "sip"} {
		if !seen[want] {
			t.Errorf("no manifest runs rtcloud %s", want)
		}
	}
	checkKustomization(t, all)
}

func checkSFU(t *testing.T, c container, args []string) {
	mp, ok := flagValue(args, "media-port")
	if !ok {
		mp = strconv.Itoa(config.Default().SFU.MediaPort)
	}
	port, _ := strconv.Atoi(mp)
	for _, proto := range []string{"UDP", "TCP"} {
		found := false
		for _, p := range list(c.spec, "ports") {
			n, _ := get(p, "containerPort").(int)
			hp, _ := get(p, "hostPort").(int)
			pr := str(p, "protocol")
			if pr == "" {
				pr = "TCP"
			}
			if pr == proto && n == port && hp == port {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: media port %d/%s is not a container and host port", c.file, port, proto)
		}
	}
	// The relay port: a UDP host port, so the other nodes reach it.
	if rp, ok := flagValue(args, "relay-port"); !ok {
		t.Errorf("%s: no --relay-port: rooms cannot span nodes", c.file)
	} else if n, _ := strconv.Atoi(rp); !hasPort(c, n, "UDP") {
		t.Errorf("%s: relay port %s is not a UDP host port", c.file, rp)
	}
	e := env(c)
	metrics, _ := e["RTCLOUD_METRICS_ADDR"].(string)
	if metrics == "" {
		t.Fatalf("%s: RTCLOUD_METRICS_ADDR unset: the probes need the SFU's /healthz", c.file)
	}
	checkHTTP(t, c, portOf(t, metrics))
	if _, ok := e["RTCLOUD_REGION"]; ok {
		t.Errorf("%s: RTCLOUD_REGION is hard-coded; regions come from the node labels", c.file)
	}
	if get(e["RTCLOUD_KUBERNETES_NODE"], "fieldRef", "fieldPath") != "spec.nodeName" {
		t.Errorf("%s: RTCLOUD_KUBERNETES_NODE must come from spec.nodeName", c.file)
	}
	// A rolling update moves participants: the node migrates them on
	// SIGTERM, within the pod's grace period.
	grace, err := time.ParseDuration(fmt.Sprint(e["RTCLOUD_MIGRATE_ON_SHUTDOWN"]))
	podGrace, _ := get(c.pod, "terminationGracePeriodSeconds").(int)
	if err != nil || grace <= 0 || grace >= time.Duration(podGrace)*time.Second {
		t.Errorf("%s: RTCLOUD_MIGRATE_ON_SHUTDOWN %v must be set and below terminationGracePeriodSeconds (%d)", c.file, e["RTCLOUD_MIGRATE_ON_SHUTDOWN"], podGrace)
	}
	if get(e["RTCLOUD_NODE_ID"], "fieldRef", "fieldPath") != "spec.nodeName" {
		t.Errorf("%s: RTCLOUD_NODE_ID must come from spec.nodeName", c.file)
	}
}

// checkHTTP checks that the container exposes port and probes /healthz on it.
func checkHTTP(t *testing.T, c container, port int) {
	t.Helper()
	if _, _, _, ok := containerPort(c, strconv.Itoa(port)); !ok {
		t.Errorf("%s: listens on %d but does not expose it", c.file, port)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		p := get(c.spec, probe, "httpGet")
		if p == nil {
			t.Errorf("%s: no %s", c.file, probe)
			continue
		}
		if path := str(p, "path"); path != "/healthz" {
			t.Errorf("%s: %s path %q, want /healthz", c.file, probe, path)
		}
		var n int
		switch v := get(p, "port").(type) {
		case int:
			n = v
		case string:
			n, _, _, _ = containerPort(c, v)
		}
		if n != port {
			t.Errorf("%s: %s on port %v, but the server listens on %d", c.file, probe, get(p, "port"), port)
		}
	}
}

func mounted(c container, file string) bool {
	for _, m := range list(c.spec, "volumeMounts") {
		if dir := str(m, "mountPath"); dir != "" && strings.HasPrefix(file, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	return false
}

func imageNames(t *testing.T, all map[string][]object) []string {
	t.Helper()
	var out []string
	for _, d := range all["kustomization.yaml"] {
		for _, im := range list(d, "images") {
			out = append(out, str(im, "name"))
		}
	}
	if len(out) == 0 {
		t.Fatal("kustomization.yaml names no image")
	}
	return out
}

func wantImage(t *testing.T, c container, image string) {
	t.Helper()
	if img := str(c.spec, "image"); img != image {
		t.Errorf("%s: %s runs from %q, want %q", c.file, c.name, img, image)
	}
}

// hasPort reports whether c exposes port/proto as a container and host port.
func hasPort(c container, port int, proto string) bool {
	for _, p := range list(c.spec, "ports") {
		n, _ := get(p, "containerPort").(int)
		hp, _ := get(p, "hostPort").(int)
		pr := str(p, "protocol")
		if pr == "" {
			pr = "TCP"
		}
		if n == port && hp == port && pr == proto {
			return true
		}
	}
	return false
}

func checkKustomization(t *testing.T, all map[string][]object) {
	var res []string
	for _, d := range all["kustomization.yaml"] {
		for _, r := range list(d, "resources") {
			res = append(res, r.(string))
		}
	}
	for f, ds := range all {
		if f == "kustomization.yaml" || f == "nats-values.yaml" {
			continue
		}
		if len(ds) > 0 && str(ds[0], "kind") != "" && !slices.Contains(res, f) {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
	for _, r := range res {
		if _, ok := all[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}
	// The SFU pods' service account may read nodes (for their labels).
	var sa string
	for _, c := range all["sfu.yaml"] {
		if s := str(c, "spec", "template", "spec", "serviceAccountName"); s != "" {
			sa = s
		}
	}
	bound := false
	for _, d := range all["rbac.yaml"] {
		if str(d, "kind") == "ClusterRoleBinding" {
			for _, s := range list(d, "subjects") {
				if str(s, "name") == sa {
					bound = true
				}
			}
		}
	}
	if sa == "" || !bound {
		t.Errorf("the SFU pods' service account %q is not bound to a role that reads nodes", sa)
	}
}

// buildBinary builds rtcloud once for flag checks.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rtcloud")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/rtcloud")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// checkFlags checks that every --flag in args is one `rtcloud COMPONENT`
// accepts.
func checkFlags(t *testing.T, bin string, args []string) {
	t.Helper()
	out, _ := exec.Command(bin, args[0], "-h").CombinedOutput()
	for _, a := range args[1:] {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if !strings.Contains(string(out), "-"+name+" ") && !strings.Contains(string(out), "-"+name+"\n") {
			t.Errorf("rtcloud %s does not accept --%s:\n%s", args[0], name, out)
		}
	}
}
