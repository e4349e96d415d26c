// Command token-server is the backend piece every rtcloud app needs: it
// hands out access tokens. Put your own user check where it says so.
//
//	RTCLOUD_API_KEY=devkey RTCLOUD_API_SECRET=secret go run ./examples/go/token-server -addr :8081
//	curl 'localhost:8081/token?room=demo&identity=alice'
//
// With -static DIR it also serves a web app, such as
// examples/web/conference (after npm install in it).
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"

	"github.com/rtcloud/rtcloud/pkg/serverapi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	static := flag.String("static", "", "also serve the files of this directory (a web app)")
	flag.Parse()
	key, secret := os.Getenv("RTCLOUD_API_KEY"), os.Getenv("RTCLOUD_API_SECRET")
	if key == "" || secret == "" {
		log.Fatal("set RTCLOUD_API_KEY and RTCLOUD_API_SECRET")
	}
	http.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		// Authenticate your user here; this example trusts the query.
		tok, err := serverapi.NewToken(key, secret, serverapi.TokenOptions{
			Identity: r.FormValue("identity"), Name: r.FormValue("name"), Room: r.FormValue("room"),
			Publish: true, Subscribe: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
	})
	if *static != "" {
		http.Handle("GET /", http.FileServer(http.Dir(*static)))
	}
	log.Printf("token server on http://%s/token", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
