/*
 * fake_inference.c: a stand-in for an inference server (vLLM's OpenAI server), for Gantry's tests.
 *
 * It serves, one connection at a time, on 0.0.0.0:PORT (or the --bind address):
 *
 *   GET /health    200 "ok"; 503 "unhealthy" while the --unhealthy-file exists or once
 *                  --unhealthy-after seconds have passed since the start
 *   GET /metrics   Prometheus text with vLLM's names and labels:
 *                    vllm:generation_tokens_total{model_name="M"}  (counter)
 *                    vllm:prompt_tokens_total{model_name="M"}      (counter)
 *                    vllm:num_requests_running{model_name="M"}     (gauge)
 *                    vllm:num_requests_waiting{model_name="M"}     (gauge)
 *                  the generation counter grows by --tokens-per-second since the start, the prompt
 *                  counter by a quarter of that
 *   GET /          200 "fake inference server"
 *   anything else  404
 *
 * Build it static, so that it also runs as the only file of a `FROM scratch` container image:
 *
 *   gcc -static -O2 -Wall -o fake_inference fake_inference.c
 *
 * Options (each also read from the environment variable in brackets when the option is absent):
 *   --port N                  port to listen on, 1-65535 (FAKE_INFERENCE_PORT; required);
 *                             a bare first argument is taken as the port too
 *   --bind ADDR               IPv4 address to listen on (default 0.0.0.0)
 *   --model NAME              model_name label (FAKE_INFERENCE_MODEL; default "fake-model")
 *   --tokens-per-second R     generation rate (FAKE_INFERENCE_TOKENS_PER_SECOND; default 100)
 *   --running N, --waiting N  the gauges' values (default 2 and 1)
 *   --unhealthy-file PATH     /health answers 503 while PATH exists (FAKE_INFERENCE_UNHEALTHY_FILE)
 *   --unhealthy-after S       /health answers 503 once S seconds have passed
 *   --exit-after S            exit 0 after S seconds (FAKE_INFERENCE_EXIT_AFTER)
 *
 * SIGTERM and SIGINT end it cleanly (exit 0). It prints "listening on ADDR:PORT" once bound.
 * Requests larger than 8 KiB are answered 431; a client that sends nothing for 5 s is dropped.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX 8192
#define RESPONSE_MAX 4096
#define READ_TIMEOUT_MS 5000

static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The option's value: argv after --name, else the environment variable, else NULL. */
static const char *option(int argc, char **argv, const char *name, const char *env)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return env != NULL ? getenv(env) : NULL;
}

static int parse_double(const char *text, double *out)
{
    char *end = NULL;
    if (text == NULL || *text == '\0') {
        return 0;
    }
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || value < 0) {
        return 0;
    }
    *out = value;
    return 1;
}

/* Writes all of buf, retrying partial writes; 0 on failure. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return 0;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 1;
}

static void respond(int fd, int status, const char *reason, const char *type, const char *body)
{
    char head[256];
    size_t body_len = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, reason, type, body_len);
    if (n > 0 && (size_t)n < sizeof head && write_all(fd, head, (size_t)n)) {
        write_all(fd, body, body_len);
    }
}

/*
 * Reads the request head (up to the blank line) into buf, NUL-terminated, across as many reads as
 * it takes. Returns its length, -1 when the client went away or timed out, -2 when it is too large.
 */
static int read_head(int fd, char *buf, size_t size)
{
    size_t used = 0;
    double deadline = now_seconds() + READ_TIMEOUT_MS / 1000.0;
    while (!stopping) {
        int left = (int)((deadline - now_seconds()) * 1000);
        if (left <= 0) {
            return -1;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ready = poll(&p, 1, left);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return -1;
        }
        if (used + 1 >= size) {
            return -2;
        }
        ssize_t n = recv(fd, buf + used, size - 1 - used, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL) {
            return (int)used;
        }
    }
    return -1;
}

struct settings {
    const char *model;
    double tokens_per_second;
    double running;
    double waiting;
    const char *unhealthy_file;
    double unhealthy_after; /* < 0: never */
    double started;
};

static int unhealthy(const struct settings *s)
{
    struct stat st;
    if (s->unhealthy_file != NULL && stat(s->unhealthy_file, &st) == 0) {
        return 1;
    }
    return s->unhealthy_after >= 0 && now_seconds() - s->started >= s->unhealthy_after;
}

static void serve(int fd, const struct settings *s)
{
    char request[REQUEST_MAX];
    int len = read_head(fd, request, sizeof request);
    if (len == -2) {
        respond(fd, 431, "Request Header Fields Too Large", "text/plain", "too large\n");
        return;
    }
    if (len < 0) {
        return;
    }

    /* "METHOD SP TARGET SP VERSION": the target ends at the next space; a query is ignored. */
    char *space = strchr(request, ' ');
    if (space == NULL) {
        respond(fd, 400, "Bad Request", "text/plain", "bad request\n");
        return;
    }
    *space = '\0';
    char *target = space + 1;
    char *end = strpbrk(target, " ?\r\n");
    if (end == NULL) {
        respond(fd, 400, "Bad Request", "text/plain", "bad request\n");
        return;
    }
    *end = '\0';
    if (strcmp(request, "GET") != 0 && strcmp(request, "HEAD") != 0) {
        respond(fd, 405, "Method Not Allowed", "text/plain", "GET only\n");
        return;
    }

    if (strcmp(target, "/health") == 0) {
        if (unhealthy(s)) {
            respond(fd, 503, "Service Unavailable", "text/plain", "unhealthy\n");
        } else {
            respond(fd, 200, "OK", "text/plain", "ok\n");
        }
    } else if (strcmp(target, "/metrics") == 0) {
        double generated = (now_seconds() - s->started) * s->tokens_per_second;
        char body[RESPONSE_MAX];
        int n = snprintf(body, sizeof body,
                         "# HELP vllm:num_requests_running Number of requests currently running on GPU.\n"
                         "# TYPE vllm:num_requests_running gauge\n"
                         "vllm:num_requests_running{model_name=\"%s\"} %.1f\n"
                         "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
                         "# TYPE vllm:num_requests_waiting gauge\n"
                         "vllm:num_requests_waiting{model_name=\"%s\"} %.1f\n"
                         "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
                         "# TYPE vllm:prompt_tokens_total counter\n"
                         "vllm:prompt_tokens_total{model_name=\"%s\"} %.1f\n"
                         "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
                         "# TYPE vllm:generation_tokens_total counter\n"
                         "vllm:generation_tokens_total{model_name=\"%s\"} %.1f\n",
                         s->model, s->running, s->model, s->waiting, s->model, generated / 4, s->model, generated);
        if (n < 0 || (size_t)n >= sizeof body) {
            respond(fd, 500, "Internal Server Error", "text/plain", "metrics too large\n");
        } else {
            respond(fd, 200, "OK", "text/plain; version=0.0.4", body);
        }
    } else if (strcmp(target, "/") == 0) {
        respond(fd, 200, "OK", "text/plain", "fake inference server\n");
    } else {
        respond(fd, 404, "Not Found", "text/plain", "not found\n");
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *port_text = option(argc, argv, "--port", "FAKE_INFERENCE_PORT");
    if (port_text == NULL && argc > 1 && argv[1][0] != '-') {
        port_text = argv[1];
    }
    double port = 0;
    if (!parse_double(port_text, &port) || port < 1 || port > 65535 || port != (int)port) {
        fprintf(stderr, "fake_inference: --port N (1-65535) or FAKE_INFERENCE_PORT is required\n");
        return 2;
    }

    struct settings s = { .model = "fake-model", .tokens_per_second = 100, .running = 2, .waiting = 1, .unhealthy_after = -1 };
    const char *text;
    if ((text = option(argc, argv, "--model", "FAKE_INFERENCE_MODEL")) != NULL) {
        /* The name goes into a label value: keep it to characters that need no escaping. */
        if (strlen(text) == 0 || strlen(text) > 200 || strpbrk(text, "\"\\\n") != NULL) {
            fprintf(stderr, "fake_inference: --model must be 1-200 characters without quotes, backslashes or newlines\n");
            return 2;
        }
        s.model = text;
    }
    if ((text = option(argc, argv, "--tokens-per-second", "FAKE_INFERENCE_TOKENS_PER_SECOND")) != NULL && !parse_double(text, &s.tokens_per_second)) {
        fprintf(stderr, "fake_inference: --tokens-per-second must be a number >= 0\n");
        return 2;
    }
    if ((text = option(argc, argv, "--running", NULL)) != NULL && !parse_double(text, &s.running)) {
        fprintf(stderr, "fake_inference: --running must be a number >= 0\n");
        return 2;
    }
    if ((text = option(argc, argv, "--waiting", NULL)) != NULL && !parse_double(text, &s.waiting)) {
        fprintf(stderr, "fake_inference: --waiting must be a number >= 0\n");
        return 2;
    }
    s.unhealthy_file = option(argc, argv, "--unhealthy-file", "FAKE_INFERENCE_UNHEALTHY_FILE");
    if ((text = option(argc, argv, "--unhealthy-after", NULL)) != NULL && !parse_double(text, &s.unhealthy_after)) {
        fprintf(stderr, "fake_inference: --unhealthy-after must be a number of seconds >= 0\n");
        return 2;
    }
    double exit_after = -1;
    if ((text = option(argc, argv, "--exit-after", "FAKE_INFERENCE_EXIT_AFTER")) != NULL && !parse_double(text, &exit_after)) {
        fprintf(stderr, "fake_inference: --exit-after must be a number of seconds >= 0\n");
        return 2;
    }
    const char *bind_text = option(argc, argv, "--bind", NULL);
    struct in_addr bind_addr = { .s_addr = htonl(INADDR_ANY) };
    if (bind_text != NULL && inet_pton(AF_INET, bind_text, &bind_addr) != 1) {
        fprintf(stderr, "fake_inference: --bind must be an IPv4 address\n");
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR and the loop sees `stopping` */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) {
        perror("fake_inference: socket");
        return 1;
    }
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr = bind_addr };
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 64) < 0) {
        perror("fake_inference: bind");
        return 1;
    }
    char shown[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &bind_addr, shown, sizeof shown);
    printf("listening on %s:%d\n", shown, (int)port);

    s.started = now_seconds();
    while (!stopping) {
        int wait_ms = 1000;
        if (exit_after >= 0) {
            double left = s.started + exit_after - now_seconds();
            if (left <= 0) {
                printf("exiting after %.0f s\n", exit_after);
                break;
            }
            if (left * 1000 < wait_ms) {
                wait_ms = (int)(left * 1000) + 1;
            }
        }
        struct pollfd p = { .fd = listener, .events = POLLIN };
        int ready = poll(&p, 1, wait_ms);
        if (ready <= 0) {
            continue; /* timeout, or EINTR from a signal */
        }
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        serve(fd, &s);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    if (stopping) {
        printf("stopping on signal\n");
    }
    close(listener);
    return 0;
}
