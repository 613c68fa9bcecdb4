/*
 * An HTTPS client with OpenSSL linked into the executable (libssl.a, libcrypto.a), for the test
 * that the agent finds TLS functions in executables, not only in libssl.so.
 * Usage: static_tls_client PORT PATH DELAY_SECONDS
 */
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  sleep(atoi(argv[3])); /* time for the agent to find this executable, which carries its own OpenSSL */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) return 1;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) return 2;
  char req[256];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", argv[2]);
  SSL_write(ssl, req, strlen(req));
  char buf[4096]; int n, total = 0;
  while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) { if (!total) printf("%.3s\n", buf + 9); /* the status code */ total += n; }
  SSL_shutdown(ssl); close(fd);
  return 0;
}
