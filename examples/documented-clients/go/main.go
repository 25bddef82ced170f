// The Go service: net/http on PORT (8000 on the platform), calling other services only
// through the documented helpers in internal_call.go.
//
//	GET  /call/get?to=ID             InternalCallGet: query parameters and custom headers
//	POST /call/post?to=ID            InternalCallPostFixed: a JSON body
//	POST /call/post-as-printed?to=ID InternalCallPost exactly as printed (two dots in the host)
//
// Each answers 200 {"result": <what the helper returned>} or 502 {"error": <its error>}.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
)

func reply(w http.ResponseWriter, result string, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"result": result})
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	body := `{"lang":"go","items":[1,2,3]}`
	headers := map[string]string{"Content-Type": "application/json", "X-Request-Id": "go-post"}

	http.HandleFunc("/v1/ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("pong")) })
	http.HandleFunc("/call/get", func(w http.ResponseWriter, r *http.Request) {
		result, err := InternalCallGet("/api/get_result", r.URL.Query().Get("to"),
			map[string]string{"num": "1", "lang": "go"},
			map[string]string{"X-Request-Id": "go-get", "X-Custom-Header": "from go"})
		reply(w, result, err)
	})
	http.HandleFunc("/call/post", func(w http.ResponseWriter, r *http.Request) {
		result, err := InternalCallPostFixed("/api/post_result", r.URL.Query().Get("to"), strings.NewReader(body), headers)
		reply(w, result, err)
	})
	http.HandleFunc("/call/post-as-printed", func(w http.ResponseWriter, r *http.Request) {
		result, err := InternalCallPost("/api/post_result", r.URL.Query().Get("to"), strings.NewReader(body), headers)
		reply(w, result, err)
	})
	log.Printf("go service %s listening on %s", os.Getenv("SERVICE_ID"), port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
