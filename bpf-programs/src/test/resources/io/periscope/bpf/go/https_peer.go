// An HTTPS server or client from Go's standard library (net/http over crypto/tls), for the TLS tests.
//
//	https_peer serve ADDR CERT KEY h1|h2   serves any path: 200 with a short body, 404 if it says "missing"
//	https_peer get URL h1|h2 COUNT WAIT    after WAIT seconds, COUNT requests on one connection (with an
//	                                       Authorization header, a secret spans must not carry);
//	                                       prints proto, status and body length of each
//	https_peer preopened URL COUNT         one HTTP/1.1 request, then after a line on stdin COUNT more
//	                                       on the same connection (the first to URL/missing, a 404,
//	                                       the others to URL/2, URL/3...); prints "reused" on each
//	                                       reused one
//
// h1 keeps it to HTTP/1.1; h2 offers HTTP/2 by ALPN, as Go does by default.
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	switch {
	case len(os.Args) == 6 && os.Args[1] == "serve":
		serve(os.Args[2], os.Args[3], os.Args[4], os.Args[5] == "h1")
	case len(os.Args) == 6 && os.Args[1] == "get":
		count, _ := strconv.Atoi(os.Args[4])
		wait, _ := strconv.Atoi(os.Args[5])
		time.Sleep(time.Duration(wait) * time.Second)
		get(os.Args[2], os.Args[3] == "h1", count)
	case len(os.Args) == 4 && os.Args[1] == "preopened":
		count, _ := strconv.Atoi(os.Args[3])
		preopened(os.Args[2], count)
	default:
		fmt.Fprintln(os.Stderr, "usage: https_peer serve ADDR CERT KEY h1|h2 | get URL h1|h2 COUNT WAIT | preopened URL COUNT")
		os.Exit(2)
	}
}

func serve(addr, cert, key string, h1 bool) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.Contains(r.URL.Path, "missing") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello from go over %s\n", r.Proto)
	})
	server := &http.Server{Addr: addr, Handler: mux}
	if h1 {
		server.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	fmt.Println("listening")
	if err := server.ListenAndServeTLS(cert, key); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func client(h1 bool) *http.Client {
	transport := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: !h1}
	if h1 {
		transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: transport}
}

// call makes one GET and prints what came back, and "reused" when it went on an earlier connection.
func call(client *http.Client, url string) {
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	request, _ := http.NewRequest("GET", url, nil)
	request = request.WithContext(httptrace.WithClientTrace(request.Context(), trace))
	request.Header.Set("Authorization", "Bearer go-tls-secret")
	r, err := client.Do(request)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if reused {
		fmt.Println(r.Proto, r.StatusCode, len(body), "reused")
	} else {
		fmt.Println(r.Proto, r.StatusCode, len(body))
	}
}

func get(url string, h1 bool, count int) {
	c := client(h1)
	for i := 0; i < count; i++ {
		call(c, url)
	}
}

func preopened(url string, count int) {
	c := client(true)
	call(c, url)
	bufio.NewReader(os.Stdin).ReadString('\n')
	call(c, url+"/missing")
	for i := 2; i <= count; i++ {
		call(c, fmt.Sprintf("%s/%d", url, i))
	}
}
