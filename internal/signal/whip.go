package signal

import "net/http"

func notYet(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "not implemented yet", http.StatusNotImplemented)
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request)      { notYet(w, r) }
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc              { return h }
func (s *Server) serveWHIP(w http.ResponseWriter, r *http.Request)      { notYet(w, r) }
func (s *Server) serveWHEP(w http.ResponseWriter, r *http.Request)      { notYet(w, r) }
func (s *Server) patchResource(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) deleteResource(w http.ResponseWriter, r *http.Request) { notYet(w, r) }
func (s *Server) serveDevToken(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
