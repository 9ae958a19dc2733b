/*
 * A reference server in C: one epoll loop, one read and at most one write per
 * ready socket, playing like bench/floor.ts (guesses lower, lower + 1, ... of
 * the last PARAMS; REPORT lines get no reply). Not part of the comparison:
 * it shows what a fair event loop does at 1000 connections, and it is the
 * fixed point for checking a load generator (see BENCHMARKS.md).
 *
 *     cc -O2 -o /tmp/epoll_server bench/epoll_server.c
 *     /tmp/epoll_server PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int fd;
  int first; /* first byte of the line being scanned, -1 at a line start */
  int field; /* which space-separated field of a PARAMS line */
  int negative[3];
  long number[3];
  long lower, upper, next;
} Conn;

static void drop(Conn *c) {
  close(c->fd);
  free(c);
}

/* Scans received bytes, appends the replies to out; returns their length. */
static int scan(Conn *c, const char *in, ssize_t n, char *out) {
  int length = 0;
  for (ssize_t i = 0; i < n; i++) {
    char byte = in[i];
    if (byte == '\n') {
      if (c->first == 'N') {
        length += sprintf(out + length, "%ld\n", c->next);
        c->next = c->next >= c->upper ? c->lower : c->next + 1;
      } else if (c->first == 'P') {
        c->lower = c->negative[1] ? -c->number[1] : c->number[1];
        c->upper = c->negative[2] ? -c->number[2] : c->number[2];
        c->next = c->lower;
      }
      c->first = -1;
      c->field = 0;
      c->number[1] = c->number[2] = 0;
      c->negative[1] = c->negative[2] = 0;
    } else if (c->first < 0) {
      c->first = byte;
    } else if (c->first == 'P') {
      if (byte == ' ') c->field = c->field < 2 ? c->field + 1 : 2;
      else if (byte == '-') c->negative[c->field] = 1;
      else if (byte >= '0' && byte <= '9') c->number[c->field] = c->number[c->field] * 10 + byte - '0';
    }
  }
  return length;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  int one = 1;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 4096)) {
    perror("listen");
    return 1;
  }
  fprintf(stderr, "Listening on 127.0.0.1:%s\n", argv[1]);
  int epoll = epoll_create1(0);
  struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
  struct epoll_event events[1024];
  static char in[16384], out[16384 * 12];
  for (;;) {
    int ready = epoll_wait(epoll, events, 1024, -1);
    for (int i = 0; i < ready; i++) {
      Conn *c = events[i].data.ptr;
      if (c == NULL) {
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          Conn *fresh = calloc(1, sizeof *fresh);
          fresh->fd = fd;
          fresh->first = -1;
          struct epoll_event readable = {.events = EPOLLIN, .data.ptr = fresh};
          epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &readable);
        }
        continue;
      }
      ssize_t n = read(c->fd, in, sizeof in);
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) {
        drop(c);
        continue;
      }
      int length = scan(c, in, n, out);
      if (length > 0 && write(c->fd, out, length) != length) drop(c);
    }
  }
}
