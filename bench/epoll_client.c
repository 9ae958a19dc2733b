/*
 * A second load generator, in C: one epoll loop, every reply handled in the
 * order the kernel reports it, so it measures the server, not itself, at any
 * number of connections and without capping its core as loadgen.ts can.
 *
 * It plays the same games as loadgen.ts (PARAMS 1 R, NUMBER, judged REPORTs,
 * PARAMS 0 -1 after Correct), or with DEPTH > 1 pipelines DEPTH NUMBERs per
 * write (a new PARAMS 1 R whenever the game's R values would run out), checks
 * every reply is a number in 1..R, and prints one JSON line: throughput, reply
 * latency, and fairness: per-connection round trips (min, p10, median, max,
 * Jain's index (sum x)^2 / (n sum x^2), 1 when all are equal), connections
 * that ever waited more than 1 s for a reply (the wait still open at the end
 * counts), connections never answered, and timeouts (waits over 5 s).
 * bench/compare.ts compiles it with `cc -O2` when a C compiler exists.
 *
 *     cc -O2 -o /tmp/epoll_client bench/epoll_client.c
 *     /tmp/epoll_client PORT CONNECTIONS SECONDS [RANGE [DEPTH [HOST]]]
 *
 * DEPTH is 1 (games) by default; HOST is an IPv4 address, 127.0.0.1 by default.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int open;          /* connected and playing */
  long secret, previous, guesses, round_trips;
  long outstanding; /* replies still expected (pipeline mode) */
  double sent_at, first_reply_at, longest_wait;
  char buffer[256];
  int length;
} Conn;

static long range = 100, depth = 1;
static long errors, games, samples, capacity;
static float *latencies; /* milliseconds */
static char start_game[64], again[96];
static char *batch, *start_batch; /* pipeline mode */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(Conn *c, int epoll) {
  errors++;
  epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd, 0);
  close(c->fd);
  c->open = 0;
}

static void send_text(Conn *c, const char *text, int epoll) {
  size_t n = strlen(text);
  c->sent_at = now();
  if (write(c->fd, text, n) != (ssize_t)n) fail(c, epoll);
}

static void new_game(Conn *c) {
  c->secret = 1 + random() % range;
  c->previous = -1;
  c->guesses = 0;
}

static void record(Conn *c, double at) {
  double wait = at - c->sent_at;
  if (samples < capacity) latencies[samples++] = (float)(wait * 1000);
  if (wait > c->longest_wait) c->longest_wait = wait;
  if (c->round_trips++ == 0) c->first_reply_at = at;
}

/* Pipeline mode: DEPTH NUMBERs, with a new PARAMS when the game would run out of values. */
static void send_batch(Conn *c, int epoll) {
  int fresh = c->guesses + depth > range;
  c->guesses = fresh ? depth : c->guesses + depth;
  c->outstanding = depth;
  send_text(c, fresh ? start_batch : batch, epoll);
}

/* Pipeline mode: every complete line of the buffer is one reply. */
static void on_pipelined(Conn *c, double at, int epoll) {
  char *line = c->buffer, *newline;
  while ((newline = strchr(line, '\n')) != NULL) {
    *newline = '\0';
    char *end;
    long guess = strtol(line, &end, 10);
    if (end == line || *end != '\0' || guess < 1 || guess > range || c->outstanding == 0) {
      fail(c, epoll);
      return;
    }
    record(c, at);
    c->outstanding--;
    line = newline + 1;
  }
  c->length = (int)strlen(line);
  memmove(c->buffer, line, c->length + 1);
  if (c->outstanding == 0) {
    if (c->length > 0) {
      fail(c, epoll); /* more than asked for */
      return;
    }
    send_batch(c, epoll);
  }
}

/* One reply line: judge it like the client does and send the next command. */
static void on_reply(Conn *c, const char *line, double at, int epoll) {
  char *end;
  long guess = strtol(line, &end, 10);
  if (end == line || *end != '\0' || guess < 1 || guess > range) {
    fail(c, epoll);
    return;
  }
  record(c, at);
  long distance = labs(guess - c->secret);
  if (distance == 0) {
    games++;
    new_game(c);
    send_text(c, again, epoll);
    return;
  }
  if (++c->guesses >= range) {
    fail(c, epoll); /* a game over 1..R takes at most R guesses */
    return;
  }
  const char *decision = c->previous < 0         ? "Unsure"
                         : distance < c->previous ? "Warmer"
                         : distance > c->previous ? "Colder"
                                                  : "Unsure";
  c->previous = distance;
  char command[48];
  snprintf(command, sizeof command, "REPORT %s\nNUMBER\n", decision);
  send_text(c, command, epoll);
}

static int by_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static int by_value(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s PORT CONNECTIONS SECONDS [RANGE [DEPTH [HOST]]]\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[2]);
  double seconds = atof(argv[3]);
  if (argc > 4) range = atol(argv[4]);
  if (argc > 5) depth = atol(argv[5]);
  if (count < 1 || range < 1 || depth < 1 || depth > range || depth > 30) {
    fprintf(stderr, "need CONNECTIONS >= 1, RANGE >= 1, 1 <= DEPTH <= min(RANGE, 30)\n");
    return 2;
  }
  batch = calloc(depth * 7 + 1, 1);
  start_batch = calloc(depth * 7 + 64, 1);
  for (long i = 0; i < depth; i++) strcat(batch, "NUMBER\n");
  snprintf(start_batch, depth * 7 + 64, "PARAMS 1 %ld\n%s", range, batch);
  snprintf(start_game, sizeof start_game, "PARAMS 1 %ld\nNUMBER\n", range);
  snprintf(again, sizeof again, "REPORT Correct\nPARAMS 0 -1\n%s", start_game);
  capacity = 50 * 1000 * 1000;
  latencies = malloc(capacity * sizeof *latencies);
  Conn *conns = calloc(count, sizeof *conns);
  int epoll = epoll_create1(0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, argc > 6 ? argv[6] : "127.0.0.1", &address.sin_addr) != 1) {
    fprintf(stderr, "not an IPv4 address: %s\n", argv[6]);
    return 2;
  }
  srandom(1);

  double start = now();
  for (int i = 0; i < count; i++) {
    Conn *c = &conns[i];
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS) {
      errors++;
      close(c->fd);
      continue;
    }
    /* Writable means connected: then send the first command. */
    struct epoll_event event = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event);
    c->length = -1;
  }

  struct epoll_event events[1024];
  while (now() - start < seconds) {
    int ready = epoll_wait(epoll, events, 1024, 50);
    double at = now();
    for (int i = 0; i < ready; i++) {
      Conn *c = events[i].data.ptr;
      if (c->length < 0) {
        int error = 0;
        socklen_t size = sizeof error;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error) {
          fail(c, epoll);
          continue;
        }
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &event);
        c->length = 0;
        c->open = 1;
        c->sent_at = at; /* a wait for the first reply counts from here */
        new_game(c);
        if (depth > 1) {
          c->guesses = range; /* forces a PARAMS first */
          send_batch(c, epoll);
        } else {
          send_text(c, start_game, epoll);
        }
        continue;
      }
      ssize_t n = read(c->fd, c->buffer + c->length, sizeof c->buffer - 1 - c->length);
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) continue;
        fail(c, epoll);
        continue;
      }
      c->length += n;
      c->buffer[c->length] = '\0';
      if (depth > 1) {
        on_pipelined(c, at, epoll);
        continue;
      }
      char *newline = strchr(c->buffer, '\n');
      if (newline == NULL) {
        if (c->length >= (int)sizeof c->buffer - 1) fail(c, epoll);
        continue;
      }
      if (newline != c->buffer + c->length - 1) {
        fail(c, epoll); /* more than the one reply asked for */
        continue;
      }
      *newline = '\0';
      c->length = 0;
      on_reply(c, c->buffer, at, epoll);
    }
  }
  double elapsed = now() - start;
  double end = now();

  /* Fairness over every connection asked for; one still connecting waited since the start.
   * A timeout is a wait of 5 s (or the whole run, if shorter), answered or not. */
  double timeout = seconds < 5.0 ? seconds * 0.95 : 5.0;
  long never = 0, late = 0, waited = 0, timeouts = 0, connected = 0;
  long *trips = malloc(count * sizeof *trips);
  double sum = 0, squares = 0;
  for (int i = 0; i < count; i++) {
    Conn *c = &conns[i];
    double open_wait = c->open ? end - c->sent_at : c->length < 0 ? end - start : 0;
    double longest = open_wait > c->longest_wait ? open_wait : c->longest_wait;
    trips[connected++] = c->round_trips;
    sum += c->round_trips;
    squares += (double)c->round_trips * c->round_trips;
    if (c->round_trips == 0) never++;
    else if (c->first_reply_at - start > 1.0) late++;
    if (longest > 1.0) waited++;
    if (longest >= timeout) timeouts++;
  }
  qsort(trips, connected, sizeof *trips, by_long);
#define TRIP(p) (connected ? trips[(long)((connected - 1) * (p))] : 0)
  double jain = squares > 0 ? sum * sum / (connected * squares) : 0;
  qsort(latencies, samples, sizeof *latencies, by_value);
  double total = 0;
  for (long i = 0; i < samples; i++) total += latencies[i];
#define AT(p) (samples ? latencies[(long)((samples - 1) * (p))] : 0.0)
  printf("{\"connections\":%d,\"depth\":%ld,\"seconds\":%.3f,\"roundTrips\":%ld,"
         "\"roundTripsPerSecond\":%.0f,\"games\":%ld,\"errors\":%ld,"
         "\"latency\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},"
         "\"firstReplyAfter1s\":%ld,\"neverAnswered\":%ld,\"fairness\":{\"counted\":%ld,"
         "\"min\":%ld,\"p10\":%ld,\"median\":%ld,\"max\":%ld,\"jain\":%.4f,"
         "\"waitedOver1s\":%ld,\"timeouts\":%ld,\"neverAnswered\":%ld}}\n",
         count, depth, elapsed, samples, samples / elapsed, games, errors, AT(0.5), AT(0.9),
         AT(0.99), samples ? latencies[samples - 1] : 0.0, samples ? total / samples : 0.0, late,
         never, connected, TRIP(0), TRIP(0.1), TRIP(0.5), TRIP(1), jain, waited, timeouts, never);
  return 0;
}
