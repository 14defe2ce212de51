/* port.c: ports: string ports on heap strings, file ports on a FILE * (output)
 * or a file descriptor (input, so that a terminal's line comes back when it
 * is typed), UTF-8 in and out, the thread's current ports, and the port
 * primitives.
 *
 * A port is an SC_PORT object of two slots (scheme.h): its C state, a
 * pointer-free block (struct port_state, below) holding everything that is
 * no Scheme value, and a string (a string input port's text, a string
 * output port's buffer). The state has a mutex, taken in a blocking region
 * (sc_port_lock), so that one write or display is never cut by another
 * thread's; the holder may allocate (a string port's buffer grows), which
 * is safe because a thread waiting for the lock counts as stopped. File
 * I/O itself runs in blocking regions from and to C buffers on the stack,
 * never into the heap.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheme.h"

enum {
    P_INPUT = 1,
    P_OUTPUT = 2,
    P_STRING = 4,
    P_FILE = 8,
    P_CLOSED = 16,
    P_STD = 32, /* stdin, stdout, stderr: close-port flushes but never closes them */
};

#define INBUF 4096

/* A port's C side. Every field is protected by `lock`, except flags'
 * P_CLOSED, which is read unlocked to report misuse early (a port closed
 * by another thread meanwhile is caught again under the lock). */
typedef struct port_state {
    sc_val hdr; /* an SC_BYTEVECTOR header: the block reads as a headed object */
    pthread_mutex_t lock;
    unsigned flags;
    FILE *out;          /* output file ports */
    int fd;             /* input file ports; -1 otherwise */
    int at_eof;         /* input file ports: read() returned 0 or failed */
    long line;          /* input: the line of the next character, from 1 */
    size_t pos;         /* string input: next code point; string output: code points used */
    size_t start, end;  /* input file ports: buf[start, end) is read and not consumed */
    unsigned char buf[]; /* input file ports: INBUF bytes */
} port_state;

static port_state *state_of(sc_val port)
{
    return (port_state *)SC_SLOT(port, SC_PORT_STATE);
}

/* ---- Making and closing ports ------------------------------------------------------- */

static void close_state(port_state *ps)
{
    if (ps->flags & P_CLOSED)
        return;
    ps->flags |= P_CLOSED;
    if (ps->out) {
        if (ps->flags & P_STD)
            fflush(ps->out);
        else {
            fclose(ps->out);
            tc_external_add(-BUFSIZ);
        }
    }
    if (ps->fd >= 0 && !(ps->flags & P_STD)) {
        close(ps->fd);
        tc_external_add(-INBUF);
    }
}

/* Runs on the finalizer thread once the port is unreachable: the port and
 * its state block stay intact until it returns, and no one else can reach
 * the state now, so no lock is needed. */
static void port_finalize(void *obj, void *arg)
{
    (void)arg;
    close_state((port_state *)((sc_val *)obj)[SC_PORT_STATE]);
}

static sc_val new_port(unsigned flags, sc_val str, FILE *out, int fd)
{
    size_t bytes = sizeof(port_state) - sizeof(sc_val) + (fd >= 0 ? INBUF : 0);
    sc_val st = sc_alloc_atomic(SC_BYTEVECTOR, bytes, bytes); /* zeroed */
    port_state *ps = (port_state *)st;
    pthread_mutex_init(&ps->lock, NULL);
    ps->flags = flags;
    ps->out = out;
    ps->fd = fd;
    ps->line = 1;
    sc_val port = sc_alloc_slots(SC_PORT, SC_PORT_SLOTS);
    SC_SET(port, SC_PORT_STATE, st);
    SC_SET(port, SC_PORT_STRING, str);
    if ((flags & P_FILE) && !(flags & P_STD) && tc_set_finalizer((void *)port, port_finalize, NULL))
        sc_error(SC_DEFAULT, "port: cannot register the finalizer: %s", strerror(errno));
    return port;
}

sc_val sc_open_input_string(sc_val str)
{
    return new_port(P_INPUT | P_STRING, str, NULL, -1);
}

sc_val sc_open_output_string(void)
{
    return new_port(P_OUTPUT | P_STRING, sc_make_string(64, 0), NULL, -1);
}

sc_val sc_open_input_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        sc_error(sc_string_from_c(path), "open-input-file: %s:", strerror(errno));
    tc_external_add(INBUF);
    return new_port(P_INPUT | P_FILE, SC_FALSE, NULL, fd);
}

sc_val sc_open_output_file(const char *path)
{
    FILE *f = fopen(path, "we");
    if (!f)
        sc_error(sc_string_from_c(path), "open-output-file: %s:", strerror(errno));
    tc_external_add(BUFSIZ);
    return new_port(P_OUTPUT | P_FILE, SC_FALSE, f, -1);
}

void sc_port_lock(sc_val port)
{
    port_state *ps = state_of(port);
    tc_blocking_begin();
    pthread_mutex_lock(&ps->lock);
    tc_blocking_end();
}

void sc_port_unlock(sc_val port)
{
    pthread_mutex_unlock(&state_of(port)->lock);
}

/* Flushes an open output port's stdio buffer, in a blocking region (a full
 * pipe blocks); under the port's lock. */
static void flush_locked(port_state *ps)
{
    if (ps->out && !(ps->flags & P_CLOSED)) {
        tc_blocking_begin();
        fflush(ps->out);
        tc_blocking_end();
    }
}

void sc_port_close(sc_val port)
{
    sc_port_lock(port);
    port_state *ps = state_of(port);
    flush_locked(ps);
    close_state(ps);
    sc_port_unlock(port);
}

int sc_is_input_port(sc_val v)
{
    return sc_is(v, SC_PORT) && (state_of(v)->flags & P_INPUT);
}

int sc_is_output_port(sc_val v)
{
    return sc_is(v, SC_PORT) && (state_of(v)->flags & P_OUTPUT);
}

void sc_check_output_port(const char *who, sc_val port)
{
    if (!sc_is_output_port(port))
        sc_error(port, "%s: not an output port:", who);
    if (state_of(port)->flags & P_CLOSED)
        sc_error(port, "%s: port is closed:", who);
}

static void check_input_port(const char *who, sc_val port)
{
    if (!sc_is_input_port(port))
        sc_error(port, "%s: not an input port:", who);
    if (state_of(port)->flags & P_CLOSED)
        sc_error(port, "%s: port is closed:", who);
}

/* ---- Output --------------------------------------------------------------------------- */

/* Appends the code points of UTF-8 s[0..n) to a string output port's
 * buffer, doubling it as needed (n bytes are at most n code points). */
static void string_append_locked(sc_val port, port_state *ps, const char *s, size_t n)
{
    sc_val buf = SC_SLOT(port, SC_PORT_STRING);
    size_t cap = sc_len(buf);
    if (ps->pos + n > cap) {
        size_t ncap = cap * 2;
        while (ncap < ps->pos + n)
            ncap *= 2;
        sc_val nb = sc_make_string(ncap, 0);
        memcpy(sc_string_chars(nb), sc_string_chars(buf), ps->pos * sizeof(uint32_t));
        SC_SET(port, SC_PORT_STRING, nb);
        buf = nb;
    }
    uint32_t *c = sc_string_chars(buf);
    for (size_t i = 0; i < n;) {
        int l;
        c[ps->pos++] = sc_utf8_decode((const unsigned char *)s + i, n - i, &l);
        i += (size_t)l;
    }
}

void sc_port_write_utf8_locked(sc_val port, const char *s, size_t n)
{
    port_state *ps = state_of(port);
    if (ps->flags & P_CLOSED) /* closed by another thread since the caller checked */
        return;
    if (ps->flags & P_STRING) {
        string_append_locked(port, ps, s, n);
        return;
    }
    tc_blocking_begin(); /* a full pipe blocks */
    fwrite(s, 1, n, ps->out);
    tc_blocking_end();
}

void sc_port_write_utf8(sc_val port, const char *s, size_t n)
{
    sc_check_output_port("write", port);
    sc_port_lock(port);
    sc_port_write_utf8_locked(port, s, n);
    sc_port_unlock(port);
}

void sc_port_write_char(sc_val port, uint32_t cp)
{
    char b[4];
    sc_port_write_utf8(port, b, (size_t)sc_utf8_encode(cp, b));
}

void sc_port_flush(sc_val port)
{
    sc_check_output_port("flush-output-port", port);
    sc_port_lock(port);
    flush_locked(state_of(port));
    sc_port_unlock(port);
}

sc_val sc_get_output_string(sc_val port)
{
    if (!sc_is_output_port(port) || !(state_of(port)->flags & P_STRING))
        sc_error(port, "get-output-string: not a string output port:");
    sc_port_lock(port);
    size_t n = state_of(port)->pos;
    sc_val s = sc_make_string(n, 0);
    memcpy(sc_string_chars(s), sc_string_chars(SC_SLOT(port, SC_PORT_STRING)), n * 4);
    sc_port_unlock(port);
    return s;
}

void sc_ports_flush_all(void)
{
    fflush(NULL); /* output file ports are stdio streams */
}

/* ---- Input ---------------------------------------------------------------------------- */

/* How many bytes the UTF-8 sequence that byte b leads takes. */
static size_t utf8_need(unsigned char b)
{
    return b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
}

/* Makes buf[start, end) hold a whole UTF-8 sequence, or all that is left
 * before the end of the file; returns the bytes there. read() returns what
 * a terminal has (a line), so this waits for no more than one character. */
static size_t fill_locked(port_state *ps)
{
    while (!ps->at_eof && (ps->start == ps->end ||
                           ps->end - ps->start < utf8_need(ps->buf[ps->start]))) {
        memmove(ps->buf, ps->buf + ps->start, ps->end - ps->start);
        ps->end -= ps->start;
        ps->start = 0;
        unsigned char tmp[INBUF];
        size_t room = INBUF - ps->end;
        tc_blocking_begin();
        ssize_t r = read(ps->fd, tmp, room);
        int err = errno;
        tc_blocking_end();
        if (r < 0 && err == EINTR)
            continue;
        if (r <= 0) {
            ps->at_eof = 1;
            break;
        }
        memcpy(ps->buf + ps->end, tmp, (size_t)r);
        ps->end += (size_t)r;
    }
    return ps->end - ps->start;
}

/* The next code point (advancing when `consume`), or -1 at the end. */
static int32_t next_locked(sc_val port, port_state *ps, int consume)
{
    uint32_t cp;
    if (ps->flags & P_STRING) {
        sc_val s = SC_SLOT(port, SC_PORT_STRING);
        if (ps->pos >= sc_len(s))
            return -1;
        cp = sc_string_chars(s)[ps->pos];
        if (consume)
            ps->pos++;
    } else {
        size_t avail = fill_locked(ps);
        if (avail == 0)
            return -1;
        int l;
        cp = sc_utf8_decode(ps->buf + ps->start, avail, &l);
        if (consume)
            ps->start += (size_t)l;
    }
    if (consume && cp == '\n')
        ps->line++;
    return (int32_t)cp;
}

static sc_val read_char(sc_val port, int consume)
{
    check_input_port(consume ? "read-char" : "peek-char", port);
    sc_port_lock(port);
    int32_t c = next_locked(port, state_of(port), consume);
    sc_port_unlock(port);
    return c < 0 ? SC_EOF : sc_char((uint32_t)c);
}

sc_val sc_port_read_char(sc_val port)
{
    return read_char(port, 1);
}

sc_val sc_port_peek_char(sc_val port)
{
    return read_char(port, 0);
}

long sc_port_line(sc_val port)
{
    return state_of(port)->line;
}

/* The rest of the line (without its newline), or SC_EOF at the end. */
static sc_val read_line(sc_val port)
{
    check_input_port("read-line", port);
    sc_port_lock(port);
    port_state *ps = state_of(port);
    /* c: small, then a heap string's text (an interior pointer, which keeps
     * the string alive) once the line outgrows it. */
    uint32_t small[256], *c = small;
    size_t n = 0, cap = 256;
    int32_t ch;
    while ((ch = next_locked(port, ps, 1)) >= 0 && ch != '\n') {
        if (n == cap) {
            sc_val nb = sc_make_string(cap * 2, 0);
            memcpy(sc_string_chars(nb), c, n * 4);
            c = sc_string_chars(nb);
            cap *= 2;
        }
        c[n++] = (uint32_t)ch;
    }
    sc_port_unlock(port);
    if (ch < 0 && n == 0)
        return SC_EOF;
    sc_val s = sc_make_string(n, 0);
    memcpy(sc_string_chars(s), c, n * 4);
    return s;
}

static int char_ready(sc_val port)
{
    check_input_port("char-ready?", port);
    sc_port_lock(port);
    port_state *ps = state_of(port);
    int ready = 1;
    if (!(ps->flags & P_STRING) && ps->start == ps->end && !ps->at_eof) {
        struct pollfd p = {.fd = ps->fd, .events = POLLIN};
        ready = poll(&p, 1, 0) > 0;
    }
    sc_port_unlock(port);
    return ready;
}

/* ---- The standard and current ports ------------------------------------------------------ */

/* The standard ports, a root range written once, at sc_init_ports. */
static struct {
    sc_val in, out, err;
} std_ports;

/* A thread's current ports when it has changed them (with-output-to-string):
 * malloc'd, a barriered root range (written through tc_store(NULL, ...)),
 * removed by the thread-specific key's destructor at thread exit. */
typedef struct cur_ports {
    sc_val in, out, err;
} cur_ports;
static _Thread_local cur_ports *cur;
static pthread_key_t cur_key;

static void cur_ports_free(void *p)
{
    tc_root_remove(p);
    free(p);
}

static void std_ports_init(void)
{
    if (std_ports.out)
        return;
    if (tc_root_add(&std_ports, sizeof std_ports) != 0 ||
        pthread_key_create(&cur_key, cur_ports_free) != 0) {
        fprintf(stderr, "scheme: cannot set up the standard ports\n");
        exit(1);
    }
    std_ports.in = new_port(P_INPUT | P_FILE | P_STD, SC_FALSE, NULL, 0);
    std_ports.out = new_port(P_OUTPUT | P_FILE | P_STD, SC_FALSE, stdout, -1);
    std_ports.err = new_port(P_OUTPUT | P_FILE | P_STD, SC_FALSE, stderr, -1);
}

static cur_ports *thread_ports(void)
{
    if (cur)
        return cur;
    cur_ports *c = malloc(sizeof *c);
    if (!c || tc_root_add_barriered(c, sizeof *c) != 0) {
        fprintf(stderr, "scheme: out of memory\n");
        exit(1);
    }
    c->in = std_ports.in;
    c->out = std_ports.out;
    c->err = std_ports.err;
    pthread_setspecific(cur_key, c);
    return cur = c;
}

sc_val sc_current_output(void)
{
    std_ports_init();
    return cur ? cur->out : std_ports.out;
}

sc_val sc_current_input(void)
{
    std_ports_init();
    return cur ? cur->in : std_ports.in;
}

sc_val sc_current_error(void)
{
    std_ports_init();
    return cur ? cur->err : std_ports.err;
}

void sc_ports_reset_current(void)
{
    if (!cur)
        return;
    tc_store(NULL, &cur->in, (void *)std_ports.in);
    tc_store(NULL, &cur->out, (void *)std_ports.out);
    tc_store(NULL, &cur->err, (void *)std_ports.err);
}

/* ---- Primitives ----------------------------------------------------------------------------- */

/* The optional port argument i, or the current one. */
static sc_val out_arg(const char *who, int argc, sc_val *argv, int i)
{
    sc_val p = i < argc && argv[i] != SC_DEFAULT ? argv[i] : sc_current_output();
    sc_check_output_port(who, p);
    return p;
}

static sc_val in_arg(const char *who, int argc, sc_val *argv, int i)
{
    sc_val p = i < argc && argv[i] != SC_DEFAULT ? argv[i] : sc_current_input();
    check_input_port(who, p);
    return p;
}

static sc_val p_display(int argc, sc_val *argv)
{
    sc_print(out_arg("display", argc, argv, 1), argv[0], 0);
    return SC_UNSPEC;
}

static sc_val p_write(int argc, sc_val *argv)
{
    sc_print(out_arg("write", argc, argv, 1), argv[0], 1);
    return SC_UNSPEC;
}

static sc_val p_write_string(int argc, sc_val *argv)
{
    sc_check_kind("write-string", argv[0], SC_STRING);
    sc_val s = argv[0], port = out_arg("write-string", argc, argv, 1);
    size_t len = sc_len(s);
    size_t start = sc_index_arg("write-string", argc, argv, 2, 0, len, 0);
    size_t end = sc_index_arg("write-string", argc, argv, 3, start, len, len);
    sc_port_lock(port);
    char buf[1024];
    size_t n = 0;
    for (size_t i = start; i < end; i++) {
        n += (size_t)sc_utf8_encode(sc_string_chars(s)[i], buf + n);
        if (n > sizeof buf - 4) {
            sc_port_write_utf8_locked(port, buf, n);
            n = 0;
        }
    }
    sc_port_write_utf8_locked(port, buf, n);
    sc_port_unlock(port);
    return SC_UNSPEC;
}

static sc_val p_write_char(int argc, sc_val *argv)
{
    uint32_t cp = sc_check_char("write-char", argv[0]);
    sc_port_write_char(out_arg("write-char", argc, argv, 1), cp);
    return SC_UNSPEC;
}

static sc_val p_newline(int argc, sc_val *argv)
{
    sc_port_write_utf8(out_arg("newline", argc, argv, 0), "\n", 1);
    return SC_UNSPEC;
}

static sc_val p_read_char(int argc, sc_val *argv)
{
    return sc_port_read_char(in_arg("read-char", argc, argv, 0));
}

static sc_val p_peek_char(int argc, sc_val *argv)
{
    return sc_port_peek_char(in_arg("peek-char", argc, argv, 0));
}

static sc_val p_read_line(int argc, sc_val *argv)
{
    return read_line(in_arg("read-line", argc, argv, 0));
}

static sc_val p_read(int argc, sc_val *argv)
{
    return sc_read(in_arg("read", argc, argv, 0), NULL);
}

static sc_val p_char_ready(int argc, sc_val *argv)
{
    return sc_bool(char_ready(in_arg("char-ready?", argc, argv, 0)));
}

static sc_val p_eof_object(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    return SC_EOF;
}

static sc_val p_is_eof_object(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(argv[0] == SC_EOF);
}

static sc_val p_current_output(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    return sc_current_output();
}

static sc_val p_current_input(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    return sc_current_input();
}

static sc_val p_current_error(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    return sc_current_error();
}

static sc_val p_open_input_string(int argc, sc_val *argv)
{
    (void)argc;
    sc_check_kind("open-input-string", argv[0], SC_STRING);
    /* A copy: the program may mutate its string while the port reads it. */
    size_t n = sc_len(argv[0]);
    sc_val s = sc_make_string(n, 0);
    memcpy(sc_string_chars(s), sc_string_chars(argv[0]), n * 4);
    return sc_open_input_string(s);
}

static sc_val p_open_output_string(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    return sc_open_output_string();
}

static sc_val p_get_output_string(int argc, sc_val *argv)
{
    (void)argc;
    return sc_get_output_string(argv[0]);
}

static sc_val open_file(const char *who, sc_val name, int output)
{
    sc_check_kind(who, name, SC_STRING);
    /* The name on the stack, not malloc'd: the open may raise an error. */
    char path[4096];
    size_t n;
    char *utf8 = sc_string_to_utf8(name, &n);
    int fits = n < sizeof path;
    if (fits)
        memcpy(path, utf8, n + 1);
    free(utf8);
    if (!fits)
        sc_error(name, "%s: file name too long:", who);
    return output ? sc_open_output_file(path) : sc_open_input_file(path);
}

static sc_val p_open_input_file(int argc, sc_val *argv)
{
    (void)argc;
    return open_file("open-input-file", argv[0], 0);
}

static sc_val p_open_output_file(int argc, sc_val *argv)
{
    (void)argc;
    return open_file("open-output-file", argv[0], 1);
}

static sc_val close_port(const char *who, sc_val port, unsigned want)
{
    sc_check_kind(who, port, SC_PORT);
    if (want && !(state_of(port)->flags & want))
        sc_error(port, "%s: wrong kind of port:", who);
    sc_port_close(port);
    return SC_UNSPEC;
}

static sc_val p_close_port(int argc, sc_val *argv)
{
    (void)argc;
    return close_port("close-port", argv[0], 0);
}

static sc_val p_close_input_port(int argc, sc_val *argv)
{
    (void)argc;
    return close_port("close-input-port", argv[0], P_INPUT);
}

static sc_val p_close_output_port(int argc, sc_val *argv)
{
    (void)argc;
    return close_port("close-output-port", argv[0], P_OUTPUT);
}

static sc_val p_is_input_port(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is_input_port(argv[0]));
}

static sc_val p_is_output_port(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is_output_port(argv[0]));
}

static sc_val p_is_port(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_PORT));
}

static sc_val p_flush_output_port(int argc, sc_val *argv)
{
    sc_port_flush(out_arg("flush-output-port", argc, argv, 0));
    return SC_UNSPEC;
}

static sc_val p_call_with_output_string(int argc, sc_val *argv)
{
    (void)argc;
    sc_val proc = argv[0]; /* argv is not ours once Scheme runs */
    sc_val port = sc_open_output_string();
    sc_apply(proc, 1, &port);
    return sc_get_output_string(port);
}

/* The current output port is a string port while thunk runs. An error
 * unwinding past this leaves it set: the VM's top level calls
 * sc_ports_reset_current. */
static sc_val p_with_output_to_string(int argc, sc_val *argv)
{
    (void)argc;
    sc_val thunk = argv[0];
    sc_val port = sc_open_output_string();
    cur_ports *c = thread_ports();
    sc_val saved = c->out;
    tc_store(NULL, &c->out, (void *)port);
    sc_apply(thunk, 0, NULL);
    tc_store(NULL, &c->out, (void *)saved);
    return sc_get_output_string(port);
}

void sc_init_ports(void)
{
    std_ports_init();
    sc_defprim("display", p_display, 1, 2);
    sc_defprim("write", p_write, 1, 2);
    sc_defprim("write-string", p_write_string, 1, 4);
    sc_defprim("write-char", p_write_char, 1, 2);
    sc_defprim("newline", p_newline, 0, 1);
    sc_defprim("read-char", p_read_char, 0, 1);
    sc_defprim("peek-char", p_peek_char, 0, 1);
    sc_defprim("read-line", p_read_line, 0, 1);
    sc_defprim("read", p_read, 0, 1);
    sc_defprim("char-ready?", p_char_ready, 0, 1);
    sc_defprim("eof-object", p_eof_object, 0, 0);
    sc_defprim("eof-object?", p_is_eof_object, 1, 1);
    sc_defprim("current-output-port", p_current_output, 0, 0);
    sc_defprim("current-input-port", p_current_input, 0, 0);
    sc_defprim("current-error-port", p_current_error, 0, 0);
    sc_defprim("open-input-string", p_open_input_string, 1, 1);
    sc_defprim("open-output-string", p_open_output_string, 0, 0);
    sc_defprim("get-output-string", p_get_output_string, 1, 1);
    sc_defprim("open-input-file", p_open_input_file, 1, 1);
    sc_defprim("open-output-file", p_open_output_file, 1, 1);
    sc_defprim("close-port", p_close_port, 1, 1);
    sc_defprim("close-input-port", p_close_input_port, 1, 1);
    sc_defprim("close-output-port", p_close_output_port, 1, 1);
    sc_defprim("input-port?", p_is_input_port, 1, 1);
    sc_defprim("output-port?", p_is_output_port, 1, 1);
    sc_defprim("port?", p_is_port, 1, 1);
    sc_defprim("flush-output-port", p_flush_output_port, 0, 1);
    sc_defprim("call-with-output-string", p_call_with_output_string, 1, 1);
    sc_defprim("with-output-to-string", p_with_output_to_string, 1, 1);
}
